"""Network namespaces for crossing a real network boundary on one machine (issue 28).

Shared by the namespace tests (tests/distributed/test_netns.py) and figure 16's agents across
namespaces (bench/workers/agent_runs.py), so both build the same lab; it knows nothing of
pytest: where namespaces cannot be made it raises :class:`NetnsUnavailable` saying why, and a
test turns that into a skip.

``Lab`` makes a hub namespace (the chief's) and one namespace per peer, each joined to the hub
by its own veth pair: peer ``i`` is ``10.228.<i>.2``, the hub ``10.228.<i>.1`` on that link,
and the peer's default route goes through it, so every peer reaches every hub address and no
peer reaches another peer or anything outside. Only the namespaces it made are touched, and
they are always deleted (with their veth pairs) on exit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SUBNET = "10.228"
ROOT = Path(__file__).resolve().parents[2]  # the checkout: ``run`` starts code from here


class NetnsUnavailable(RuntimeError):
    """Namespaces cannot be made here (not root, no ``ip``, or ``ip`` refused)."""


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def unavailable_reason() -> str | None:
    """Why namespaces cannot be made here, or None where they can be tried."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add); not root here"
    if shutil.which("ip") is None:
        return "network namespaces need iproute2's ip; not installed here"
    return None


class Lab:
    """A hub namespace and ``peers`` namespaces linked to it; see the module."""

    def __init__(self, peers: int, tag: str = "") -> None:
        self.tag = tag or f"td{os.getpid() % 100000}"
        self.hub = f"{self.tag}-hub"
        self.peers = [f"{self.tag}-p{i}" for i in range(1, peers + 1)]
        self.made: list[str] = []

    def hub_address(self, peer: int = 1) -> str:
        """The hub's address on peer ``peer``'s link (1-based)."""
        return f"{SUBNET}.{peer}.1"

    def hub_link(self, peer: int) -> str:
        return f"{self.tag}h{peer}"

    def __enter__(self) -> Lab:
        reason = unavailable_reason()
        if reason:
            raise NetnsUnavailable(reason)
        try:
            self._make()
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            self.__exit__()
            raise NetnsUnavailable(f"network namespaces cannot be made here: {error}") from error
        return self

    def _make(self) -> None:
        for name in (self.hub, *self.peers):
            _ip("netns", "add", name)
            self.made.append(name)
            _ip("-n", name, "link", "set", "lo", "up")
        for i, peer in enumerate(self.peers, start=1):
            hub_end, peer_end = self.hub_link(i), f"{self.tag}p{i}"
            _ip("link", "add", hub_end, "type", "veth", "peer", "name", peer_end)
            _ip("link", "set", hub_end, "netns", self.hub)
            _ip("link", "set", peer_end, "netns", peer)
            _ip("-n", self.hub, "addr", "add", f"{SUBNET}.{i}.1/24", "dev", hub_end)
            _ip("-n", peer, "addr", "add", f"{SUBNET}.{i}.2/24", "dev", peer_end)
            _ip("-n", self.hub, "link", "set", hub_end, "up")
            _ip("-n", peer, "link", "set", peer_end, "up")
            _ip("-n", peer, "route", "add", "default", "via", f"{SUBNET}.{i}.1")

    def __exit__(self, *exc: object) -> None:
        # deleting a namespace deletes the veth ends in it, and so each pair
        for name in reversed(self.made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
        self.made.clear()

    def prefix(self, namespace: str) -> tuple[str, ...]:
        """The command prefix that runs a process inside ``namespace``."""
        return ("ip", "netns", "exec", namespace)

    def link(self, peer: int, up: bool) -> None:
        """Take peer ``peer``'s link down (or back up), at the hub's end."""
        _ip("-n", self.hub, "link", "set", self.hub_link(peer), "up" if up else "down")

    def run(self, namespace: str, code: str, timeout: float = 60.0) -> str:
        """Run Python ``code`` inside ``namespace`` (this checkout's interpreter); stdout."""
        done = subprocess.run([*self.prefix(namespace), sys.executable, "-c", code], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"code in {namespace} exited {done.returncode}: "
                               f"{done.stderr[-2000:]}")
        return done.stdout.strip()
