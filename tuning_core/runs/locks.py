"""One writer per run across processes and machines, and one training slot per machine.

A lock is an OS file lock (``fcntl.flock``) on a ``.lock`` file plus a holder record beside
it (pid, host, start, heartbeat, what it does, for whom). The OS lock is the truth on one
host: it is released when its process dies, however it dies, so a dead holder is never
mistaken for a live one. Machines that share a workspace over a network file system may
not see each other's locks, so the holder record carries a heartbeat, refreshed every few
seconds while the lock is held: a record from another host whose heartbeat is fresh counts
as held, a stale one as dead.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tuning_core.core import atomic
from tuning_core.core.errors import JobBusyError, LockHeldError

HEARTBEAT_S = 5.0
STALE_S = 60.0  # a heartbeat this old, from another host, means its holder is gone
SLOT_ENV = "TUNING_SLOT_DIR"
_HOST = socket.gethostname()


def this_host() -> str:
    """This machine's host name, as holder records spell it."""
    return _HOST


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock: process, machine, since when, last sign of life, doing what."""

    pid: int
    host: str
    started: float
    heartbeat: float
    kind: str = ""
    user: str = ""
    target: str = ""  # the run folder's name (for the machine slot: the run it trains)
    device: str = ""  # a distributed search's worker: what it trains on ("GPU 0", "CPU 0-1")
    trial: str = ""  # a distributed search's worker: the trial it runs now

    def heartbeat_age(self, now: float | None = None) -> float:
        """Seconds since the holder last wrote its heartbeat."""
        return max(0.0, (now or time.time()) - self.heartbeat)

    def describe(self, heartbeat_after_s: float = 0.0) -> str:
        """"pid 123 on host lab-1 (search for alice, heartbeat 2 s ago)". The heartbeat is left
        out while younger than ``heartbeat_after_s`` (live pages: only a late one is news)."""
        age = self.heartbeat_age()
        said = [x for x in (self.kind, f"for {self.user}" if self.user else "") if x]
        if age >= heartbeat_after_s:
            said.append(f"heartbeat {age:.0f} s ago")
        return f"pid {self.pid} on {self.host}" + (f" ({', '.join(said)})" if said else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LockHolder:
        return cls(pid=int(data.get("pid", 0)), host=str(data.get("host", "")),
                   started=float(data.get("started", 0.0)),
                   heartbeat=float(data.get("heartbeat", 0.0)), kind=str(data.get("kind", "")),
                   user=str(data.get("user", "")), target=str(data.get("target", "")),
                   device=str(data.get("device", "")), trial=str(data.get("trial", "")))

    @classmethod
    def mine(cls, kind: str = "", user: str = "", target: str = "",
             device: str = "") -> LockHolder:
        """A record for this process, now."""
        now = time.time()
        return cls(os.getpid(), _HOST, now, now, kind, user, target, device)


class FileLock:
    """An exclusive lock held by one process at a time, with its holder record and heartbeat."""

    def __init__(self, lock_path: str | Path, what: str,
                 error: type[LockHeldError] = LockHeldError) -> None:
        self.lock_path = Path(lock_path)
        self.error = error
        self.holder_path = self.lock_path.with_suffix(".json")
        self.what = what  # for messages: "run 2024...-random", "this machine's training slot"
        self._fd: int | None = None
        self._holder: LockHolder | None = None
        self._stop_beat = threading.Event()
        self._beat: threading.Thread | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self, holder: LockHolder) -> None:
        """Take the lock for ``owner``; LockHeldError naming the holder when someone has it."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        if not _try_flock(fd, fcntl.LOCK_EX, tries=10):
            os.close(fd)
            raise self.error(self.what, self._record())
        remote = self._record()
        if remote is not None and remote.host != _HOST and remote.heartbeat_age() < STALE_S:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise self.error(self.what, remote)
        self._fd, self._holder = fd, holder
        atomic.write_json(self.holder_path, holder.to_dict())
        self._stop_beat.clear()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True,
                                      name=f"heartbeat:{self.lock_path.parent.name}")
        self._beat.start()

    def update_holder(self, **changes: Any) -> None:
        """Change fields of the held lock's holder record (say, the run it now trains)."""
        if self._holder is not None:
            self._holder = replace(self._holder, **changes)
            atomic.write_json(self.holder_path, self._holder.to_dict())

    def release(self) -> None:
        """Give the lock back (its holder record goes first, so nobody reads a stale one)."""
        if self._fd is None:
            return
        self._stop_beat.set()
        self.holder_path.unlink(missing_ok=True)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd, self._holder = None, None

    def holder(self) -> LockHolder | None:
        """The live holder of the lock (this process included), or None when it is free."""
        if self._fd is not None and self._holder is not None:
            return self._holder
        if not self.lock_path.exists():
            return None
        record = self._record()
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except OSError:
            return None
        try:
            if not _try_flock(fd, fcntl.LOCK_SH, tries=1):
                return record or LockHolder(0, "unknown", 0.0, time.time())
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        if record is not None and record.host != _HOST and record.heartbeat_age() < STALE_S:
            return record  # held from a machine whose lock this file system does not show
        return None

    def _record(self) -> LockHolder | None:
        try:
            return LockHolder.from_dict(json.loads(self.holder_path.read_text()))
        except (OSError, ValueError, TypeError, AttributeError):
            return None

    def _heartbeat(self) -> None:
        while not self._stop_beat.wait(HEARTBEAT_S):
            holder = self._holder
            if holder is None:
                return
            self._holder = replace(holder, heartbeat=time.time())
            # a full disk must not kill the training; liveness falls back to the OS lock
            with contextlib.suppress(OSError):
                atomic.write_json(self.holder_path, self._holder.to_dict())


def _try_flock(fd: int, mode: int, tries: int) -> bool:
    # A reader's brief shared lock can block an acquirer for microseconds: retry a little.
    for attempt in range(tries):
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < tries:
                time.sleep(0.02)
    return False


def slot_dir() -> Path:
    """Where this machine's training-slot lock lives: ``$TUNING_SLOT_DIR`` or the temp folder."""
    return Path(os.environ.get(SLOT_ENV) or Path(tempfile.gettempdir()) / "tuning-dashboard")


def machine_slot() -> FileLock:
    """The lock that lets one job train at a time on this machine, whoever starts it."""
    return FileLock(slot_dir() / "slot.lock", "This machine's training slot", JobBusyError)
