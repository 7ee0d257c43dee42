"""The same dashboard as ``app.py``, for those who start ``streamlit run serve_app.py``.

``app.py`` defines the server itself (``pages/common/server.py``), so ``streamlit run app.py``,
``make run`` and ``tuning-dashboard`` need nothing here; this file stays so that the older way
of starting it keeps working, with the same live feed, queue dispatcher and lab gate.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streamlit.starlette import App  # noqa: E402

from pages.common.server import app_parts  # noqa: E402

app = App(ROOT / "app.py", **app_parts())
