"""Servers the tests start: a free loopback port, and ending a server's whole process group.

Every server a test starts listens on 127.0.0.1 only and runs in a session of its own
(``start_new_session=True``), so its children (a search thread's TensorFlow, workers) end
with it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOST = "127.0.0.1"  # never any other address: these servers must not be on a network


def free_port() -> int:
    """A TCP port free on the loopback address right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def stop_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process's group, then SIGKILL it if it is still there after ``grace``."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def healthy(url: str) -> bool:
    """True when the dashboard at ``url`` answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except OSError:
        return False


@contextmanager
def serving(command: list[str], url: str, log: Path, env: dict[str, str], cwd: Path,
            startup_s: float = 120.0) -> Iterator[subprocess.Popen]:
    """Start ``command`` (a dashboard server, any way of starting one) in its own session;
    yield it once ``url`` answers healthy, end its group after. A server that exits or does
    not answer in ``startup_s`` fails with the end of its log."""
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + startup_s
        while not healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
                raise RuntimeError(f"{' '.join(command)} did not serve {url}; its log:\n{tail}")
            time.sleep(0.25)  # a server that is starting, not a page
        yield process
    finally:
        stop_group(process)
