"""The job queue's records: kinds, states and one queued job (no SQLite here)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from tuning_core.core.errors import TuningError
from tuning_core.core.workspace import queue_path
from tuning_core.runs.locks import STALE_S


class QueueError(TuningError):
    """The queue refused a change (not allowed, wrong state, duplicate) or is unreadable."""


class QueueKind(str, Enum):
    """What a queued job does when it gets the slot."""

    SEARCH = "search"
    RESUME = "resume"
    RETRAIN = "retrain"


class JobState(str, Enum):
    """Where a queued job stands; a job is waiting, running, or done."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    def is_waiting(self) -> bool:
        """True while the job waits for the slot (it can be moved or cancelled)."""
        return self is JobState.QUEUED

    def is_active(self) -> bool:
        """True while the job waits or runs (a run may have one active job at most)."""
        return self in (JobState.QUEUED, JobState.RUNNING)

    def is_done(self) -> bool:
        """True once the job has ended, whatever the outcome."""
        return not self.is_active()

    def is_resumable(self) -> bool:
        """True when the run was cut short and a "resume" job may continue it."""
        return self in (JobState.INTERRUPTED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class QueuedJob:
    """One job of the queue, as stored; ``position`` sorts the waiting jobs."""

    id: int
    kind: QueueKind
    run_dir: str
    owner: str
    params: dict[str, Any] = field(default_factory=dict)
    budget_s: float | None = None
    state: JobState = JobState.QUEUED
    position: int = 0
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    host: str | None = None
    pid: int | None = None
    message: str | None = None
    requeues: int = 0  # times it went back to the queue because its process died

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reverses it."""
        return {**asdict(self), "kind": self.kind.value, "state": self.state.value}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QueuedJob:
        """Rebuild a job written by :meth:`to_dict`."""
        return cls(**{**d, "kind": QueueKind(d["kind"]), "state": JobState(d["state"]),
                      "params": dict(d.get("params") or {})})

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> QueuedJob:
        return cls.from_dict({**dict(row), "params": json.loads(row["params"])})


def default_path() -> Path:
    """``queue.sqlite3`` in the workspace folder."""
    return queue_path()


def process_alive(job: QueuedJob) -> bool:
    """For :meth:`JobQueue.recover`: is the job's process still running?

    A process on this host is asked directly. One of another host sharing the workspace
    cannot be, so it counts as alive while its run's lock shows a fresh heartbeat (that
    host's holder record, :mod:`tuning_core.runs.locks`) and for ``STALE_S`` after its start
    (before its first heartbeat); a host that lost power stops beating and its job is taken
    up here, not left holding the queue's one running place for ever.
    """
    if job.pid is None:
        return True
    if job.host != socket.gethostname():
        return _remote_alive(job)
    try:
        os.kill(job.pid, 0)  # signal 0 only checks; PermissionError: alive, another user's
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not _zombie(job.pid)


def _remote_alive(job: QueuedJob) -> bool:
    from tuning_core.runs.rundir import RunDir  # when needed: its readers bring pandas

    if time.time() - (job.started or 0.0) < STALE_S:
        return True
    return RunDir(job.run_dir).holder() is not None  # whoever trains the run now: leave it


def _zombie(pid: int) -> bool:
    """True when ``pid`` has ended but its parent has not reaped it yet (a killed server whose
    supervisor is slow): signal 0 still finds it, yet it trains nothing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc here, or it ended just now
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def _checked(kind: QueueKind | str, owner: str, params: dict[str, Any] | None,
             budget_s: float | None) -> tuple[QueueKind, str]:
    """The kind as an enum and the params as JSON, or QueueError saying what is wrong."""
    try:
        kind = QueueKind(kind)
    except ValueError:
        raise QueueError(f"A job kind is one of {_names(QueueKind)}; got {kind!r}.") from None
    if not owner or not isinstance(owner, str):
        raise QueueError(f"A job needs the name of the user who queues it; got {owner!r}.")
    if budget_s is not None and not budget_s >= 0:
        raise QueueError(f"A job's time budget is seconds >= 0 or None; got {budget_s!r}.")
    try:
        return kind, json.dumps(params or {}, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise QueueError(f"A job's params must be JSON data; got {params!r} ({error}).") \
            from None


def _names(members: Any) -> str:
    return ", ".join(repr(m.value) for m in members)
