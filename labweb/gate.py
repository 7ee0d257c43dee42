"""The login gate: an ASGI middleware that refuses every request without a valid session.

Open without a session: the login form and its POST, logout, and the health check. Any
other HTTP request is refused: a page navigation is redirected (303) to the login form,
anything else answers 401 with no app content; a websocket handshake is closed (the
server answers 403). An open websocket is re-checked as messages arrive, so a session
that is logged out, expired, or whose user was removed or changed password stops working
on a page already open too.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tuning_core.lab.sessions import COOKIE_NAME

from .context import LabContext

LOGIN_PATH = "/_lab/login"
LOGOUT_PATH = "/_lab/logout"
PUBLIC_PATHS = frozenset({LOGIN_PATH, LOGOUT_PATH, "/_stcore/health"})
NOT_PAGES = ("/_stcore/", "/media/", "/component/", "/static/", "/app/static/", "/_lab/",
             "/_live/")
RECHECK_SECONDS = 5.0
POLICY_CLOSE = 1008  # websocket close code: policy violation
SAFE_HEADERS = [(b"x-frame-options", b"SAMEORIGIN"), (b"x-content-type-options", b"nosniff"),
                (b"referrer-policy", b"same-origin")]


class LabGate:
    """Wraps the Streamlit ASGI app; only requests with a valid session get through."""

    def __init__(self, app: ASGIApp, lab: LabContext) -> None:
        self.app = app
        self.lab = lab

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        conn = HTTPConnection(scope)
        if not self.lab.host_allowed(conn.headers.get("host")):
            await self._refuse(scope, receive, send, 400, "this host name is not allowed here.")
            return
        if scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, _with_headers(send))
            return
        token = conn.cookies.get(COOKIE_NAME)
        user = self.lab.user_of(token)
        if user is None:
            await self._refuse(scope, receive, send, 401, "log in first.")
            return
        if scope["type"] == "websocket":
            if not _same_origin(conn):
                await self._refuse(scope, receive, send, 403, "cross-origin websocket refused.")
                return
            receive = self._rechecking(receive, send, token)
        scope.setdefault("state", {})["lab_user"] = user
        await self.app(scope, receive, _with_headers(send))

    def _rechecking(self, receive: Receive, send: Send, token: str | None) -> Receive:
        last = time.monotonic()

        async def checked() -> Message:
            nonlocal last
            message = await receive()
            if message["type"] == "websocket.receive" and time.monotonic() - last > RECHECK_SECONDS:
                last = time.monotonic()
                if self.lab.user_of(token) is None:
                    await send({"type": "websocket.close", "code": POLICY_CLOSE})
                    return {"type": "websocket.disconnect", "code": POLICY_CLOSE}
            return message

        return checked

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int,
                      text: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": POLICY_CLOSE})
            return
        if status == 401 and _is_page_navigation(scope):
            target = f"{LOGIN_PATH}?next={quote(scope['path'], safe='/')}"
            await _respond(send, 303, b"", [(b"location", target.encode())])
            return
        await _respond(send, status, text.encode(),
                       [(b"content-type", b"text/plain; charset=utf-8")])


def _is_page_navigation(scope: Scope) -> bool:
    path = scope["path"]
    accept = HTTPConnection(scope).headers.get("accept", "")
    return scope["method"] == "GET" and "text/html" in accept and not path.startswith(NOT_PAGES)


def _same_origin(conn: HTTPConnection) -> bool:
    """True when a websocket comes from a page of this server (or names no origin at all)."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True  # not a browser: a script with a stolen cookie gains nothing from Origin
    host = conn.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/").lower() == host.lower()


async def _respond(send: Send, status: int, body: bytes,
                   headers: list[tuple[bytes, bytes]]) -> None:
    headers = headers + SAFE_HEADERS + [(b"cache-control", b"no-store"),
                                        (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in SAFE_HEADERS if k not in present]
            message = {**message, "headers": list(message.get("headers", [])) + extra}
        await send(message)

    return sending
