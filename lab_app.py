"""Lab mode: the dashboard's pages behind a login gate, as an ASGI app.

Started by ``make lab`` (``python -m tuning_core serve --lab``), which runs
``streamlit run lab_app.py`` with the lab flags; streamlit finds ``app`` below and serves it
with uvicorn. Every HTTP request and websocket handshake passes :class:`labweb.LabGate`
first (see ``labweb/__init__.py`` for why this and not a check in the page script).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["TUNING_LAB_MODE"] = "1"  # the pages read it (tuning_core.labconfig.lab_mode_active)

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from starlette.middleware import Middleware  # noqa: E402
from streamlit.starlette import App  # noqa: E402

from labweb import LabContext, LabGate, lab_routes  # noqa: E402

lab = LabContext.from_workspace()
app = App(ROOT / "app.py", routes=lab_routes(lab), middleware=[Middleware(LabGate, lab=lab)])
