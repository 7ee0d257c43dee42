"""The login form (a tiny server-rendered page), its POST, and logout.

CSRF: each form carries a token that is the HMAC of a random ``SameSite=Strict`` cookie
set with the form, so a form posted from another site (no cookie) or a stale page (old
token) is refused. The session cookie is ``HttpOnly`` and ``SameSite=Strict`` (``Secure``
with TLS); it lasts ``session_hours``, so a reload keeps the login. Failed logins are
throttled per user name and per address and written to the audit log.
"""

from __future__ import annotations

import contextlib
import html
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tuning_core.core.errors import DiskFullError, LoginError
from tuning_core.lab.audit import AuditAction, Outcome
from tuning_core.lab.sessions import COOKIE_NAME

from .context import LabContext
from .gate import LOGIN_PATH, LOGOUT_PATH, SAFE_HEADERS

CSRF_COOKIE = "tuning_lab_csrf"
MAX_FORM_BYTES = 4096
POLICY = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
          "frame-ancestors 'none'; base-uri 'none'")
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in: Keras tuning dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}}
label,input,button{{display:block;width:100%;box-sizing:border-box;margin:.3rem 0}}
input,button{{padding:.5rem;font-size:1rem}}.msg{{color:#b00020}}</style></head>
<body><h1>Keras tuning dashboard</h1>
<form method="post" action="{action}">
<p class="msg" role="alert">{message}</p>
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required autofocus value="{name}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button></form></body></html>"""


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site, never another site or the gate."""
    target = target or "/"
    bad = (not target.startswith("/") or target.startswith(("//", "/\\", "/_lab/"))
           or "\\" in target or any(ord(c) < 33 for c in target) or len(target) > 512)
    return "/" if bad else target


def _form_page(lab: LabContext, request: Request, status: int, message: str = "",
               name: str = "", next_path: str = "/") -> Response:
    cookie, token = lab.new_csrf()
    body = PAGE.format(action=LOGIN_PATH, message=html.escape(message), name=html.escape(name),
                       csrf=token, next=html.escape(safe_next(next_path)))
    response = HTMLResponse(body, status_code=status)
    response.headers["content-security-policy"] = POLICY
    response.headers["cache-control"] = "no-store"
    response.set_cookie(CSRF_COOKIE, cookie, path="/_lab", httponly=True, samesite="strict",
                        secure=lab.config.tls)
    return response


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _read_form(request: Request) -> dict[str, str] | None:
    """The urlencoded form, or None when it is too big or not a urlencoded form."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_FORM_BYTES:
            return None
    fields = parse_qs(data.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def _origin_ok(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.split("://", 1)[-1].rstrip("/").lower() == request.headers.get("host", "").lower()


def lab_routes(lab: LabContext) -> list[Route]:
    """GET/POST ``/_lab/login`` and GET/POST ``/_lab/logout`` bound to ``lab``."""

    async def show(request: Request) -> Response:
        next_path = safe_next(request.query_params.get("next"))
        if lab.user_of(request.cookies.get(COOKIE_NAME)) is not None:
            return RedirectResponse(next_path, status_code=303)
        return _form_page(lab, request, 200, next_path=next_path)

    async def submit(request: Request) -> Response:
        form = await _read_form(request)
        if form is None:
            return _form_page(lab, request, 400, "expected the login form; got something else.")
        name, next_path = form.get("username", "").strip(), form.get("next", "/")
        csrf_ok = lab.csrf_ok(request.cookies.get(CSRF_COOKIE), form.get("csrf"))
        if not _origin_ok(request) or not csrf_ok:
            return _form_page(lab, request, 403, "the form expired or came from another site; "
                              "please log in again.", name, next_path)
        try:
            return _try_login(lab, request, name, form.get("password", ""), next_path)
        except DiskFullError as error:  # the audit log cannot record it: refused, said
            return _form_page(lab, request, 503, f"Logins are refused until an admin frees "
                              f"space: the audit log cannot record them ({error}).",
                              name, next_path)

    async def logout(request: Request) -> Response:
        token = request.cookies.get(COOKIE_NAME)
        user = lab.user_of(token)
        if lab.sessions.revoke(token) is not None and user is not None:
            with contextlib.suppress(DiskFullError):  # the session ends all the same
                lab.audit.record(AuditAction.LOGOUT, user=user, address=_address(request))
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
        return response

    return [Route(LOGIN_PATH, show, methods=["GET"]), Route(LOGIN_PATH, submit, methods=["POST"]),
            Route(LOGOUT_PATH, logout, methods=["GET", "POST"])]


def _try_login(lab: LabContext, request: Request, name: str, password: str,
               next_path: str) -> Response:
    address = _address(request)
    try:
        lab.throttle.check(name, address)
        account = lab.sessions.store.verify(name, password)
    except LoginError as error:
        locked = error.retry_after > 0
        if not locked:
            lab.throttle.failure(name, address)
        lab.audit.record(AuditAction.LOGIN_FAILED, Outcome.DENIED if locked else Outcome.FAILED,
                         address=address, target=name, detail=str(error))
        response = _form_page(lab, request, 429 if locked else 401, str(error), name, next_path)
        if locked:
            response.headers["retry-after"] = str(int(error.retry_after) + 1)
        return response
    lab.throttle.success(name)
    lab.audit.record(AuditAction.LOGIN, user=account.user, address=address)  # before: a
    # login the log cannot hold is refused (DiskFullError), never granted unrecorded
    with contextlib.suppress(DiskFullError):  # a rehash can wait for room; the login cannot
        lab.sessions.store.upgrade_hash(account, password)  # parameters raised since: rehash
    token, _claims = lab.sessions.issue(account)
    response = RedirectResponse(safe_next(next_path), status_code=303)
    response.set_cookie(COOKIE_NAME, token, max_age=lab.sessions.session_seconds, path="/",
                        httponly=True, samesite="strict", secure=lab.config.tls)
    response.delete_cookie(CSRF_COOKIE, path="/_lab")
    for key, value in SAFE_HEADERS:
        response.headers[key.decode()] = value.decode()
    return response

