"""``python -m tuning_core``: see tuning_core.cli."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not for users

from .cli import main

raise SystemExit(main())
