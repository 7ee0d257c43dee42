"""The audit log: ``<workspace>/audit.jsonl``, one JSON line per security-relevant event.

Each event is appended with a single ``write`` on a file opened with ``O_APPEND``, under an
exclusive ``fcntl`` lock on the file, and flushed to disk before the call returns: lines
written by two servers and the command line at the same time never interleave or overwrite
each other, and their times (taken inside the lock) grow down the file, so it stays one
ordered log. A power cut can leave a last line cut short; readers skip it, and the next
append starts on a fresh line instead of gluing onto it. A full disk refuses the append with
one line (``DiskFullError``): an action that cannot be recorded is refused, not done
unrecorded (the login form says so with a 503). :meth:`AuditLog.latest` reads only the end
of the file.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from tuning_core.core import atomic, diskspace
from tuning_core.core.workspace import audit_path

MAX_FIELD = 300  # characters kept of a free-text field, so one line stays small
_TAIL_BLOCK = 64 * 1024


class AuditAction(Enum):
    """What happened."""

    LOGIN = "login"
    LOGIN_FAILED = "login failed"
    LOGOUT = "logout"
    LAUNCH = "launch"
    STOP = "stop"
    RESUME = "resume"
    DELETE = "delete"
    PRUNE = "prune"
    UPLOAD = "upload"
    RETRAIN = "retrain"
    EDIT_NOTES = "edit notes"
    EXPORT = "export"
    REPORT = "report"
    DOWNLOAD = "download"
    EXPLAIN = "explain"
    EXCLUDE = "exclude"
    CLASSIFY = "classify"
    USER_ADD = "user add"
    USER_REMOVE = "user remove"
    USER_PASSWD = "user passwd"

    @property
    def is_account_change(self) -> bool:
        """True for changes to accounts (worth an admin's attention)."""
        return self.value.startswith("user ")


class Outcome(Enum):
    """How it ended: done, refused by a permission or rate limit, or failed."""

    OK = "ok"
    DENIED = "denied"
    FAILED = "failed"


@dataclass(frozen=True)
class AuditEvent:
    """One line of the audit log. ``user``/``role`` are None for the command line."""

    action: AuditAction
    outcome: Outcome = Outcome.OK
    user: str | None = None
    role: str | None = None
    address: str | None = None
    target: str | None = None
    detail: str | None = None
    time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(action=self.action.value, outcome=self.outcome.value)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditEvent:
        fields = {k: data.get(k) for k in ("user", "role", "address", "target", "detail")}
        return cls(AuditAction(data["action"]), Outcome(data["outcome"]),
                   time=float(data["time"]), **fields)


def _clip(value: str | None) -> str | None:
    return None if value is None else str(value)[:MAX_FIELD]


class AuditLog:
    """Appends events to, and reads the latest events of, one ``audit.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, event: AuditEvent) -> AuditEvent:
        """Write one line (time filled in when 0, inside the lock so times follow the file's
        order) and flush it to disk; returns the event as written.

        Raises:
            DiskFullError: the disk has no room for the line (a part written is a torn line
                the readers skip and the next append starts after).
        """
        with diskspace.said_as_full(self.path.parent, "the lab's audit log"):
            return self._append(event)

    def _append(self, event: AuditEvent) -> AuditEvent:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not event.time:
                event = AuditEvent(**{**event.__dict__, "time": time.time()})
            clipped = {k: _clip(v) if isinstance(v, str) else v
                       for k, v in event.to_dict().items()}
            line = (json.dumps(clipped, ensure_ascii=True, sort_keys=True) + "\n").encode()
            os.write(fd, atomic.torn_tail(fd) + line)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
        return event

    def record(self, action: AuditAction, outcome: Outcome = Outcome.OK, *, user: Any = None,
               address: str | None = None, target: str | None = None,
               detail: str | None = None) -> AuditEvent:
        """Append an event; ``user`` is a ``User`` (its name and role are written) or None."""
        name = getattr(user, "name", None)
        role = getattr(getattr(user, "role", None), "value", None)
        return self.append(AuditEvent(action, outcome, name, role, address, target, detail))

    def latest(self, count: int = 100) -> list[AuditEvent]:
        """The last ``count`` events, oldest first (unreadable lines are skipped)."""
        events: list[AuditEvent] = []
        for line in self._tail_lines(count):
            try:
                events.append(AuditEvent.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue
        return events[-count:] if count > 0 else []

    def _tail_lines(self, count: int) -> list[bytes]:
        try:
            with open(self.path, "rb") as log:
                end = log.seek(0, os.SEEK_END)
                start, data = end, b""
                while start > 0 and data.count(b"\n") <= count:
                    start = max(0, start - _TAIL_BLOCK)
                    log.seek(start)
                    data = log.read(end - start)
        except FileNotFoundError:
            return []
        lines = data.split(b"\n")
        if start > 0:
            lines = lines[1:]  # the first piece may be the end of a longer line
        return [line for line in lines if line.strip()]


def audit_log(workspace: Path | None = None) -> AuditLog:
    """The workspace's audit log, ``<workspace>/audit.jsonl``."""
    return AuditLog(audit_path(workspace))
