"""A real server for the HTTP tests (lab mode, or local): loopback only, killed with its
process group.

Users are made with the command line, as an admin would. The helpers speak plain
``http.client`` so every status, header and cookie is what the server sent.
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from tests.servers import HOST, free_port, stop_group

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 90.0
TIMEOUT = 10.0
USERS = {"alice": ("admin", "alice-password"), "bob": ("member", "bob-password")}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def cookie(self, name: str) -> str | None:
        """The value a Set-Cookie header gives ``name`` ("" when it is cleared)."""
        for header in self.headers.get_all("set-cookie") or []:
            if header.startswith(f"{name}="):
                return header.split(";", 1)[0].split("=", 1)[1].strip('"')
        return None


@dataclass(frozen=True)
class LabServer:
    port: int
    workspace: Path
    log: Path

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes | None = None) -> Reply:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()

    def get(self, path: str, token: str | None = None, **headers: str) -> Reply:
        if token:
            headers["Cookie"] = f"tuning_lab_session={token}"
        return self.request("GET", path, {k.replace("_", "-"): v for k, v in headers.items()})

    def login(self, name: str, password: str, next_path: str = "/", csrf: bool = True) -> Reply:
        form = self.get("/_lab/login")
        cookie = form.cookie("tuning_lab_csrf") or ""
        token = re.search(rb'name="csrf" value="([^"]*)"', form.body).group(1).decode()
        data = {"username": name, "password": password, "next": next_path,
                "csrf": token if csrf else "x"}
        return self.request("POST", "/_lab/login", {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"tuning_lab_csrf={cookie}"}, urlencode(data).encode())

    def session(self, name: str) -> str:
        reply = self.login(name, USERS[name][1])
        assert reply.status == 303, reply.body
        return reply.cookie("tuning_lab_session")

    def upgrade(self, path: str, token: str | None = None, origin: str | None = None) -> int:
        """The status of a websocket handshake (101 when accepted)."""
        headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
        if token:
            headers["Cookie"] = f"tuning_lab_session={token}"
        if origin:
            headers["Origin"] = origin
        conn = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT)
        try:
            conn.request("GET", path, headers=headers)
            return conn.getresponse().status
        finally:
            conn.close()

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return run_cli(self.workspace, *args, stdin=stdin)

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


def run_cli(workspace: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "TUNING_WORKSPACE": str(workspace)}
    return subprocess.run([sys.executable, "-m", "tuning_core", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=60)


def _wait_healthy(server: LabServer, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if server.get("/_stcore/health").body == b"ok":
                return True
        except OSError:
            pass
        time.sleep(0.25)  # a server that is starting, not a page
    return False


@contextmanager
def lab_server(workspace: Path, log: Path,
               users: dict[str, tuple[str, str]] = USERS) -> Iterator[LabServer]:
    """``make lab`` on a free loopback port over ``workspace``; killed afterwards."""
    for name, (role, password) in users.items():
        added = run_cli(workspace, "user", "add", name, "--role", role, stdin=password + "\n")
        assert added.returncode == 0, added.stderr
    with _serving(workspace, log, ["--lab"]) as server:
        yield server


@contextmanager
def local_server(workspace: Path, log: Path) -> Iterator[LabServer]:
    """``make run`` (local mode, no accounts) on a free loopback port over ``workspace``."""
    with _serving(workspace, log, []) as server:
        yield server


@contextmanager
def _serving(workspace: Path, log: Path, mode: list[str]) -> Iterator[LabServer]:
    env = {**os.environ, "TUNING_WORKSPACE": str(workspace), "PYTHONUNBUFFERED": "1"}
    for _attempt in range(3):  # another process may take the free port first
        server = LabServer(free_port(), workspace, log)
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "tuning_core", "serve", *mode, "--address", HOST,
                 "--port", str(server.port)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if _wait_healthy(server, process):
                yield server
                return
            if process.poll() == 2:  # the launcher refused; another port would not help
                break
        finally:
            stop_group(process)
    raise RuntimeError(f"the server did not start; its log:\n{server.log_tail()}")
