"""The server's ASGI entry: the pages of ``app.py``, behind the login gate in lab mode.

``make run`` and ``make lab`` (``python -m tuning_core serve [--lab]``) run
``streamlit run serve_app.py``; streamlit finds ``app`` below and serves it with uvicorn.

A few things happen here, at server start, that ``app.py`` cannot do (it runs per session):

* Lab mode (``TUNING_LAB_MODE=1``, set by the launcher): every HTTP request and websocket
  handshake passes :class:`labweb.LabGate` first (``labweb/__init__.py`` says why this and
  not a check in the page script).
* The live feed (``/_live/...``, ``labweb/live.py``): what the Monitor page and the sidebar
  poll every second instead of rerunning their sessions (``tuning_core/live/answers.py`` says why).
* A SIGTERM or Ctrl-C of the server stops its training job cleanly. uvicorn catches the
  signal, shuts down, then raises it again with the default handler, which kills the process
  before any ``atexit`` hook: the lifespan's end below is the last moment the jobs can write
  their ``trial_end`` and ``search_end``.
* The router owns every URL from the first request on. Streamlit 1.67 routes a session by
  the old ``pages/`` folder convention until some session has called ``st.navigation``: the
  first visitor of a deep link such as ``/monitor?run=...`` after a restart would run
  ``pages/monitor.py`` without ``app.py`` (no login check, no run selection, helper modules
  listed as pages). The flag below is what ``st.navigation`` itself sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from starlette.middleware import Middleware  # noqa: E402
from streamlit.runtime.pages_manager import PagesManager  # noqa: E402
from streamlit.starlette import App  # noqa: E402

from labweb.live import live_routes  # noqa: E402
from tuning_core.analysis.importance import preload  # noqa: E402
from tuning_core.core import workspace  # noqa: E402
from tuning_core.jobs.dispatcher import queued_registry  # noqa: E402
from tuning_core.jobs.registry import shutdown_all  # noqa: E402
from tuning_core.lab.config import LAB_ENV  # noqa: E402

PagesManager.uses_pages_directory = False


@contextlib.asynccontextmanager
async def stop_jobs_at_shutdown(_app: App) -> AsyncIterator[None]:
    """Serve; at shutdown, stop this process's job at its next batch and let it log its end.
    At start, the job queue's dispatcher starts (a job queued before a restart starts by
    itself, with no page open) and scikit-learn is imported in the background
    (``importance.preload``)."""
    queued_registry(workspace.runs_dir())
    threading.Thread(target=preload, name="preload", daemon=True).start()
    yield
    await asyncio.to_thread(shutdown_all)


if os.environ.get(LAB_ENV) == "1":
    from labweb import LabContext, LabGate, lab_routes

    lab = LabContext.from_workspace()
    app = App(ROOT / "app.py", routes=lab_routes(lab) + live_routes(lab_mode=True),
              middleware=[Middleware(LabGate, lab=lab)], lifespan=stop_jobs_at_shutdown)
else:
    app = App(ROOT / "app.py", routes=live_routes(lab_mode=False), lifespan=stop_jobs_at_shutdown)
