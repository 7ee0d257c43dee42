"""``python -m tuning_core``: see tuning_core.cli.main."""

from __future__ import annotations

import os

# native log lines are not for users; errors still raise
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tuning_core.cli.main import main

raise SystemExit(main())
