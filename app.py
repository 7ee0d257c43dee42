"""The dashboard: its server and its router, so every way of starting it gives the same one.

Start it with ``streamlit run app.py`` (any of streamlit's flags; ``-- --lab`` for lab mode,
``-- --workspace DIR`` for another workspace), ``make run``, ``python -m tuning_core serve`` or,
installed, ``tuning-dashboard``. This file plays two parts:

* Imported by the server (``__name__`` is ``"app"``): streamlit finds the ``App`` below and
  serves it with uvicorn, with the live feed, the queue's dispatcher and, in lab mode, the login
  gate (``pages/common/server.py``); a start that is not safe is refused there in one line.
* Run by a session (``__name__`` is ``"__main__"``): the router and shared frame: page config,
  navigation, and the run sidebar. The page scripts live in ``pages/`` and are listed here
  explicitly; what the pages share is in ``pages/common/``, each page's own views in
  ``pages/views/`` (named by the page they serve).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# keep TensorFlow's native chatter out of the console
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # so pages can import tuning_core and their helpers
    sys.path.insert(0, str(ROOT))

if __name__ != "__main__":  # the server: streamlit imports this module and serves ``app``
    from streamlit.starlette import App

    from pages.common.server import app_parts

    app = App(ROOT / "app.py", **app_parts())
else:  # a session: route it to its page
    import streamlit as st

    from pages.common import auth, live, state

    PAGES = [
        st.Page("pages/data.py", title="Data", icon=":material/folder_open:", default=True),
        st.Page("pages/space.py", title="Search space", icon=":material/tune:"),
        st.Page("pages/search.py", title="Search", icon=":material/play_circle:"),
        st.Page("pages/monitor.py", title="Monitor", icon=":material/monitoring:"),
        st.Page("pages/best.py", title="Best model", icon=":material/emoji_events:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    ]

    st.set_page_config(page_title="Keras tuning dashboard", page_icon=":material/tune:",
                       layout="wide")
    auth.require_login()  # lab mode: the gate let only sessions in; a page re-checks its own
    page = st.navigation(PAGES + auth.admin_pages())
    with st.sidebar:
        auth.logout_button()
    live.sidebar(state.sync_run_with_url())
    live.watch_while_idle()  # a job or run that appears later: the page reruns to follow it
    page.run()
