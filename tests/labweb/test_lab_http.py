"""Lab mode over HTTP, against a real server on a loopback port (see tests/lab_server.py).

Every route is refused without a session and answers with one; logins fail the right way;
expired, tampered, logged-out and outdated sessions are refused; failed logins lock.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab_server import LabServer, lab_server
from tuning_core.lab.accounts import user_store
from tuning_core.lab.audit import audit_log
from tuning_core.lab.sessions import SessionClaims, Signer, load_secret

JS_ASSET = "/static/static/js/index.js"  # any path under /static: gated before it is looked up
ROUTES = [  # (method, path, headers) of each kind of thing the server answers
    ("GET", "/", {"Accept": "text/html"}),
    ("GET", "/monitor", {"Accept": "text/html"}),
    ("GET", "/monitor", {}),
    ("GET", "/_stcore/host-config", {}),
    ("GET", "/_stcore/metrics", {}),
    ("GET", "/media/x.png", {}),
    ("PUT", "/_stcore/upload_file/session/file",
     {"Content-Type": "multipart/form-data; boundary=b"}),
    ("GET", "/component/some.component/index.html", {}),
    ("GET", "/static/favicon.png", {}),
    ("GET", JS_ASSET, {}),
    ("GET", "/favicon.png", {}),
    ("GET", "/auth/login", {}),
    ("GET", "/_stcore/agent/openapi.json", {}),
    ("GET", "/_live/monitor?run=x", {}),
    ("GET", "/_live/sidebar?run=", {"Accept": "text/html"}),
]
APP_MARKERS = (b"<div id=\"root\"", b"streamlit", b"allowedOrigins", b"\x89PNG")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    folder = tmp_path_factory.mktemp("lab")
    (folder / "workspace").mkdir()
    with lab_server(folder / "workspace", folder / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def alice(server: LabServer) -> str:
    return server.session("alice")


def _refused(reply) -> bool:
    clean = not any(marker in reply.body.lower() for marker in APP_MARKERS)
    to_login = reply.status == 303 and reply.headers["location"].startswith("/_lab/login")
    return clean and (reply.status in (401, 403) or to_login)


@pytest.mark.parametrize(("method", "path", "headers"), ROUTES,
                         ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_every_route_is_refused_without_a_session(server: LabServer, method, path, headers) -> None:
    reply = server.request(method, path, headers, b"--b--\r\n" if method == "PUT" else None)
    assert _refused(reply), (reply.status, reply.body[:200])


def test_the_websocket_is_refused_without_a_session(server: LabServer) -> None:
    assert server.upgrade("/_stcore/stream") == 403


def test_a_page_navigation_goes_to_the_login_form(server: LabServer) -> None:
    reply = server.get("/monitor", Accept="text/html")
    assert reply.status == 303 and reply.headers["location"] == "/_lab/login?next=/monitor"
    form = server.get(reply.headers["location"])
    assert form.status == 200
    assert b'name="username"' in form.body and b'type="password"' in form.body
    assert b"<script" not in form.body.lower()
    assert "frame-ancestors 'none'" in form.headers["content-security-policy"]
    assert server.get("/_stcore/health").body == b"ok"


def test_with_a_session_every_route_answers(server: LabServer, alice: str) -> None:
    page = server.get("/monitor", alice, Accept="text/html")
    assert page.status == 200 and b'<div id="root"' in page.body
    assert server.get("/_stcore/host-config", alice).status == 200
    assert server.get("/favicon.png", alice).status == 200
    for path in ("/media/x.png", "/component/some.component/index.html"):
        assert server.get(path, alice).status == 404  # past the gate: the app says not found
    upload = server.request("PUT", "/_stcore/upload_file/s/f",
                            {"Cookie": f"tuning_lab_session={alice}"})
    assert upload.status not in (303, 401)  # the app's own XSRF check answers now
    assert server.upgrade("/_stcore/stream", alice) == 101
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert server.get("/_live/sidebar?run=", alice).status == 200  # the live feed
    assert server.get("/_live/monitor?run=x", alice).status == 404  # no such run


def test_a_cross_origin_websocket_is_refused_even_with_a_session(server: LabServer,
                                                                 alice: str) -> None:
    assert server.upgrade("/_stcore/stream", alice, origin="http://evil.example") == 403
    assert server.upgrade("/_stcore/stream", alice, origin=f"http://127.0.0.1:{server.port}") == 101


def test_login_sets_a_strict_httponly_cookie_and_goes_back(server: LabServer) -> None:
    reply = server.login("bob", "bob-password", next_path="/monitor")
    assert reply.status == 303 and reply.headers["location"] == "/monitor"
    header = next(h for h in reply.headers.get_all("set-cookie")
                  if h.startswith("tuning_lab_session="))
    assert "HttpOnly" in header and "SameSite=strict" in header and "Max-Age=43200" in header
    token = reply.cookie("tuning_lab_session")
    assert server.get("/", token, Accept="text/html").status == 200  # a reload keeps the login
    assert server.get("/", token, Accept="text/html").status == 200
    elsewhere = server.login("bob", "bob-password", next_path="//evil.example/")
    assert elsewhere.headers["location"] == "/"


def test_wrong_password_and_unknown_user_fail_alike(server: LabServer) -> None:
    wrong = server.login("alice", "not-her-password")
    unknown = server.login("mallory", "alice-password")
    for reply in (wrong, unknown):
        assert reply.status == 401 and reply.cookie("tuning_lab_session") is None
        assert b"the user name or the password is wrong." in reply.body
    events = audit_log(server.workspace).latest(50)
    assert {e.target for e in events if e.action.value == "login failed"} >= {"alice", "mallory"}


def test_a_login_without_the_forms_token_is_refused(server: LabServer) -> None:
    reply = server.login("alice", "alice-password", csrf=False)
    assert reply.status == 403 and reply.cookie("tuning_lab_session") is None
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    posted = server.request("POST", "/_lab/login", form_type,
                            b"username=alice&password=alice-password&csrf=x")
    assert posted.status == 403


def _forge(server: LabServer, **changes) -> str:
    account = user_store(server.workspace).get("alice")
    now = time.time()
    fields = {"user": "alice", "issued": now, "expires": now + 3600, "sid": "forged",
              "stamp": account.stamp}
    signer = Signer(load_secret(server.workspace / "lab"))
    return signer.sign(SessionClaims(**{**fields, **changes}))


def test_an_expired_session_is_refused(server: LabServer) -> None:
    sound = _forge(server)  # the forgery itself is sound
    assert server.get("/_stcore/host-config", sound).status == 200
    old = _forge(server, issued=time.time() - 13 * 3600, expires=time.time() - 3600)
    assert _refused(server.get("/_stcore/host-config", old))
    assert server.upgrade("/_stcore/stream", old) == 403


def test_a_tampered_cookie_is_refused(server: LabServer, alice: str) -> None:
    body, mac = alice.split(".")
    as_bob = _forge(server, user="bob")
    for bad in (body + "." + mac[::-1], body[:-4] + "AAAA." + mac, "x" + alice,
                as_bob, as_bob[:-3] + "abc"):
        assert _refused(server.get("/_stcore/host-config", bad))
    other_key = Signer(b"k" * 32).sign(SessionClaims("alice", 0, time.time() + 99, "s", "x"))
    assert _refused(server.get("/_stcore/host-config", other_key))


def test_logout_clears_the_cookie_and_revokes_the_session(server: LabServer) -> None:
    token = server.session("bob")
    reply = server.get("/_lab/logout", token)
    assert reply.status == 303 and reply.headers["location"] == "/_lab/login"
    assert reply.cookie("tuning_lab_session") == ""
    assert _refused(server.get("/_stcore/host-config", token))  # a kept copy no longer works
    assert server.upgrade("/_stcore/stream", token) == 403


def test_a_password_change_or_removal_ends_the_users_sessions(server: LabServer) -> None:
    added = server.cli("user", "add", "carl", "--role", "viewer", stdin="carl-password\n")
    assert added.returncode == 0
    token = server.login("carl", "carl-password").cookie("tuning_lab_session")
    assert server.get("/_stcore/host-config", token).status == 200
    assert server.cli("user", "passwd", "carl", stdin="carl-new-password\n").returncode == 0
    assert _refused(server.get("/_stcore/host-config", token))
    token = server.login("carl", "carl-new-password").cookie("tuning_lab_session")
    assert server.cli("user", "remove", "carl").returncode == 0
    assert _refused(server.get("/_stcore/host-config", token))


def test_failed_logins_lock_the_user_and_the_address(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    users = {"root": ("admin", "root-password"), "dora": ("member", "dora-password")}
    with lab_server(workspace, tmp_path / "server.log", users) as server:
        statuses = [server.login("dora", f"guess-{n}").status for n in range(5)]
        locked = server.login("dora", "dora-password")  # the right password, too late
        other = server.login("mallory", "anything-at-all")  # the same address, another name
    assert statuses == [401] * 5
    assert locked.status == 429 and locked.cookie("tuning_lab_session") is None
    assert b"too many failed logins" in locked.body and int(locked.headers["retry-after"]) > 0
    assert other.status == 429


def test_an_open_websocket_closes_once_its_session_is_logged_out(server: LabServer) -> None:
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from labweb.gate import RECHECK_SECONDS

    token = server.session("bob")
    heartbeat = BackMsg(app_heartbeat=True).SerializeToString()
    with connect(f"ws://127.0.0.1:{server.port}/_stcore/stream", open_timeout=10,
                 additional_headers={"Cookie": f"tuning_lab_session={token}"}) as socket:
        socket.send(heartbeat)
        time.sleep(RECHECK_SECONDS + 0.5)
        socket.send(heartbeat)  # rechecked: still valid, still open
        assert server.get("/_lab/logout", token).status == 303
        time.sleep(RECHECK_SECONDS + 0.5)
        socket.send(heartbeat)
        with pytest.raises(ConnectionClosed):
            while True:  # streamlit may still have queued messages for us; then the close
                socket.recv(timeout=10)


def test_a_login_the_audit_log_has_no_room_for_is_refused_in_words(tmp_path: Path,
                                                                    small_disk) -> None:
    from tests.disks import fill
    from tuning_core.core.errors import DiskFullError
    from tuning_core.lab.audit import AuditAction

    workspace = small_disk("16m") / "workspace"
    workspace.mkdir()
    with lab_server(workspace, tmp_path / "server.log") as server:
        filler = fill(workspace.parent)
        with contextlib.suppress(DiskFullError):  # the log's last block has room for a few
            for n in range(1_000):
                audit_log(workspace).record(AuditAction.LAUNCH, target=f"pad-{n}")
        refused = server.login("alice", "alice-password")
        assert refused.status == 503 and refused.cookie("tuning_lab_session") is None
        assert b"Logins are refused until an admin frees space" in refused.body
        assert b"disk full: " in refused.body and b"Traceback" not in refused.body
        filler.unlink()
        granted = server.login("alice", "alice-password")
        assert granted.status == 303 and granted.cookie("tuning_lab_session")
    logins = [e for e in audit_log(workspace).latest(50) if e.action.value == "login"]
    assert [e.user for e in logins] == ["alice"]  # the refused one was never granted
