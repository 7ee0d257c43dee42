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
