"""The server's routes beyond Streamlit's pages: lab mode's login gate, and the live feed.

The gate (lab mode) stands in front of every request the server answers; the live feed
(``live.py``, both modes) is what watching pages poll instead of rerunning their sessions.

Why an ASGI middleware (around ``streamlit.starlette.App``) and not a check in the page
script: a page script only runs for the websocket session, after the page and its assets
were served; it never sees ``/media/...`` (images and downloads the app made),
``/_stcore/upload_file/...`` (uploads) or ``/_stcore/host-config``, which answer without it.
``st.login`` is OIDC only: it needs an identity provider and HTTPS, which a lab network
usually lacks. The middleware sees every HTTP request and every websocket handshake.

This package imports starlette but never streamlit; ``pages/common/server.py`` puts it in
front of the pages for every way of starting the dashboard.
"""

from __future__ import annotations

from .context import LabContext
from .gate import LabGate
from .live import live_routes
from .login import lab_routes

__all__ = ["LabContext", "LabGate", "lab_routes", "live_routes"]
