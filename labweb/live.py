"""The live feed's routes: ``/_live/monitor`` and ``/_live/sidebar``
(:mod:`tuning_core.live.answers`).

Served in both modes. In lab mode :class:`labweb.LabGate` stands in front of them like every
route (no session, no content). In local mode the server listens on loopback only, and a
request must also name a loopback host, so a web page elsewhere cannot read the runs
through a DNS name rebound to 127.0.0.1. Read-only and GET only; the run is a folder name
in the workspace's runs folder, nothing else. Endpoints are plain functions, so Starlette
runs them in its thread pool, off the server's event loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tuning_core.core.errors import TuningError
from tuning_core.live import answers as _feed
from tuning_core.live.cache import Feed, FeedBusy

from .context import _host_name

LOG = logging.getLogger(__name__)
LOOPBACK_NAMES = frozenset({"localhost", "::1"})
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def loopback_host(header: str | None) -> bool:
    """True when a Host header names this machine's loopback (localhost, 127.x, ::1)."""
    host = _host_name(header or "")
    return host in LOOPBACK_NAMES or host.startswith("127.") or host.endswith(".localhost")


def _error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status, media_type="application/json",
                    headers=HEADERS)


def accepts_gzip(header: str | None) -> bool:
    """True when an Accept-Encoding header takes gzip (by name or ``*``, not with q=0)."""
    for item in (header or "").split(","):
        name, _, params = item.partition(";")
        if name.strip().lower() in ("gzip", "*"):
            quality = params.replace(" ", "").lower().removeprefix("q=")
            try:
                return float(quality or 1) > 0
            except ValueError:
                return False
    return False


def _answer(request: Request, feed: Feed) -> Response:
    """The feed's answer: 304 to either of its ETags, else its body, gzipped once for every
    viewer where the browser takes it (the server's gzip layer leaves an encoded body as is)."""
    zipped = feed.gzipped is not None and accepts_gzip(request.headers.get("accept-encoding"))
    etag = feed.gzip_etag if zipped else feed.etag
    headers = {"ETag": etag, "Vary": "Accept-Encoding", **HEADERS}
    if request.headers.get("if-none-match") in (feed.etag, feed.gzip_etag):
        return Response(status_code=304, headers=headers)
    if zipped:
        return Response(feed.gzipped, media_type="application/json",
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(feed.body, media_type="application/json", headers=headers)


def live_routes(lab_mode: bool) -> list[Route]:
    """The feed routes; outside lab mode they answer loopback host names only."""

    def endpoint(build: Callable[[Path | None, str | None], Feed], need_run: bool):
        def serve(request: Request) -> Response:
            if not lab_mode and not loopback_host(request.headers.get("host")):
                return _error(400, "this host name is not allowed here.")
            name = request.query_params.get("run", "")
            run = _feed.run_path(name)
            if run is None and (need_run or name):
                return _error(404, "no such run in this workspace.")
            try:
                return _answer(request, build(run, request.headers.get("if-none-match")))
            except TuningError as error:
                return _error(409, str(error))
            except FeedBusy as error:
                return _error(503, str(error))
            except Exception as error:  # the page says it is not updating, and why
                LOG.exception("live feed %s for run %r failed", request.url.path, name)
                return _error(500, f"the live view could not be built: {error}")
        return serve

    return [Route(_feed.MONITOR_URL, endpoint(_feed.monitor_feed, True), methods=["GET"]),
            Route(_feed.SIDEBAR_URL, endpoint(_feed.sidebar_feed, False), methods=["GET"])]
