"""The machine's job queue: training jobs wait here, in order, for the one training slot.

One job trains at a time per machine. The dashboard server, the command line and the
workers all read and change the queue at once, from several processes, so it lives in
a SQLite database (``<workspace>/queue.sqlite3``) rather than in JSON files:

* every read-modify-write runs in a ``BEGIN IMMEDIATE`` transaction, which takes the
  database's write lock before reading, so two processes can never both see the slot
  free and both take it; hand-made lock files get stale locks, partial writes and
  clock races wrong, and SQLite has solved exactly this problem for decades;
* WAL mode lets readers (pages polling the queue) read while a writer writes;
* a busy timeout makes a second writer wait its turn instead of failing;
* ``synchronous=FULL``: a commit is on disk before it returns, so a power cut loses no
  job that was said to be queued, and a kill at any moment leaves the last committed queue
  (SQLite rolls a torn transaction back when the file is next opened);
* a change the disk has no room for is rolled back whole and said in one line, and the
  queue still reads on a full disk;
* partial unique indexes make the database itself refuse a second running job and a
  second active job for the same run, whatever a buggy caller does.

A connection is opened per call (sqlite3 connections must not cross threads), which
also means a :class:`JobQueue` object is safe to share between threads.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from tuning_core.core import diskspace
from tuning_core.core.workspace import QUEUE_FILE
from tuning_core.jobs.records import (
    JobState,
    QueuedJob,
    QueueError,
    QueueKind,
    _checked,
    _names,
    default_path,
    process_alive,
)
from tuning_core.lab.actor import Actor
from tuning_core.lab.permissions import Action

SCHEMA_VERSION = 2  # 2: jobs.requeues (a job whose process died goes back once)
MAX_REQUEUES = 1
_NEARLY_FULL = 256 * 1024  # free bytes under which an I/O error is read as a full disk
BUSY_TIMEOUT_S = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    owner TEXT NOT NULL,
    params TEXT NOT NULL,
    budget_s REAL,
    state TEXT NOT NULL,
    position INTEGER NOT NULL,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    host TEXT,
    pid INTEGER,
    message TEXT,
    requeues INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, position);
CREATE UNIQUE INDEX IF NOT EXISTS one_running_job ON jobs (state) WHERE state = 'running';
CREATE UNIQUE INDEX IF NOT EXISTS one_active_job_per_run ON jobs (run_dir)
    WHERE state IN ('queued', 'running');
"""


class JobQueue:
    """The FIFO queue of training jobs in one SQLite file, shared by processes."""

    def __init__(self, path: str | Path | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """Open (and on first use create) the queue database at ``path`` (by default
        :func:`default_path`); ``clock`` gives the times stored in jobs.

        Raises:
            QueueError: the file is not a queue database, or was written by a newer
                schema version.
        """
        self.path = Path(path) if path is not None else default_path()
        self._clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._create_schema()

    # --- connections --------------------------------------------------------------

    def _connect(self, write: bool = True) -> sqlite3.Connection:
        if not write and self._unwritable_now():
            # a full disk and no connection open: a WAL reader could not make its -wal and
            # -shm files, but the database file alone is the whole queue (no WAL to replay)
            uri = f"{self.path.absolute().as_uri()}?immutable=1"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            conn.row_factory = sqlite3.Row
            return conn
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous = FULL")  # per connection: durable commits
        return conn

    def _unwritable_now(self) -> bool:
        """A nearly full disk, and no frame in a WAL (none, or the empty one a refused write
        left): the database file holds every committed change."""
        try:
            frames = self.path.with_name(self.path.name + "-wal").stat().st_size > 0
        except FileNotFoundError:
            frames = False
        return not frames and diskspace.free_bytes(self.path) < _NEARLY_FULL

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction; sqlite errors become QueueError."""
        try:
            with closing(self._connect(write)) as conn:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        except sqlite3.Error as error:
            if self._disk_full(error):
                full = diskspace.full_error(self.path.parent).args[0]
                raise QueueError(f"The job queue {self.path} is unchanged: {full}; free some "
                                 "space and try again.") from error
            raise QueueError(f"The job queue {self.path} cannot be used: {error}. Expected a "
                             "SQLite queue database; move the file aside to start a new "
                             "queue.") from error

    def _disk_full(self, error: sqlite3.Error) -> bool:
        """SQLITE_FULL, or an I/O error with (almost) no room left: SQLite says "disk I/O
        error" when growing its WAL or shared-memory file meets ENOSPC."""
        code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # the primary of extended codes
        if code == sqlite3.SQLITE_FULL:
            return True
        return code == sqlite3.SQLITE_IOERR and diskspace.free_bytes(self.path) < _NEARLY_FULL

    def _create_schema(self) -> None:
        if self.path.is_file():  # made already: opened for reading (a full disk still reads)
            with self._tx(write=False) as conn:
                if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                    return
        with self._tx() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise QueueError(f"The job queue {self.path} has schema version {version}; "
                                 f"this version of the engine reads up to {SCHEMA_VERSION}.")
            if version == 1:  # a queue of the previous version: its jobs are kept
                conn.execute("ALTER TABLE jobs ADD COLUMN requeues INTEGER NOT NULL DEFAULT 0")
            if version < SCHEMA_VERSION:
                # statement by statement: executescript() would commit the transaction
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        try:  # WAL: pages read while a writer writes; the mode is stored in the file
            with closing(self._connect()) as conn:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            pass  # another process is switching it right now; the mode is persistent

    # --- reading ------------------------------------------------------------------

    def get(self, job_id: int) -> QueuedJob:
        """The job with this id.

        Raises:
            QueueError: no job has this id.
        """
        with self._tx(write=False) as conn:
            return self._get(conn, job_id)

    def _get(self, conn: sqlite3.Connection, job_id: int) -> QueuedJob:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise QueueError(f"No job {job_id} in the queue {self.path}.")
        return QueuedJob._from_row(row)

    def jobs(self, include_done: bool = False, limit: int | None = None) -> list[QueuedJob]:
        """The running job, then the waiting ones in order; with ``include_done``, then
        the ended ones, latest first. At most ``limit`` jobs when given."""
        where = "" if include_done else "WHERE state IN ('queued', 'running')"
        order = ("CASE state WHEN 'running' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END, "
                 "CASE WHEN state = 'queued' THEN position ELSE -ended END, id")
        with self._tx(write=False) as conn:
            rows = conn.execute(f"SELECT * FROM jobs {where} ORDER BY {order} LIMIT ?",
                                (-1 if limit is None else limit,)).fetchall()
        return [QueuedJob._from_row(row) for row in rows]

    def _waiting(self, conn: sqlite3.Connection) -> list[QueuedJob]:
        rows = conn.execute("SELECT * FROM jobs WHERE state = 'queued' "
                            "ORDER BY position, id").fetchall()
        return [QueuedJob._from_row(row) for row in rows]

    def _running(self, conn: sqlite3.Connection) -> QueuedJob | None:
        row = conn.execute("SELECT * FROM jobs WHERE state = 'running'").fetchone()
        return None if row is None else QueuedJob._from_row(row)

    def running(self) -> QueuedJob | None:
        """The job that holds the slot, or None."""
        with self._tx(write=False) as conn:
            return self._running(conn)

    def position(self, job_id: int) -> int | None:
        """The job's 1-based place among the waiting jobs; None once it is not waiting.

        Raises:
            QueueError: no job has this id.
        """
        with self._tx(write=False) as conn:
            self._get(conn, job_id)
            ids = [job.id for job in self._waiting(conn)]
        return ids.index(job_id) + 1 if job_id in ids else None

    def history(self, limit: int = 50) -> list[QueuedJob]:
        """Ended jobs, the latest first, at most ``limit``."""
        with self._tx(write=False) as conn:
            rows = conn.execute("SELECT * FROM jobs WHERE state NOT IN ('queued', 'running') "
                                "ORDER BY ended DESC, id DESC LIMIT ?", (limit,)).fetchall()
        return [QueuedJob._from_row(row) for row in rows]

    def estimated_starts(self, running_left_s: float | None,
                         default_budget_s: float) -> dict[int, float]:
        """Seconds from now until each waiting job starts, by job id.

        The running job ends in ``running_left_s`` (when None: its budget minus the time
        it has run, or ``default_budget_s`` without a budget; with no running job the
        first waiting job starts at 0); each waiting job then runs for its own budget,
        or ``default_budget_s`` when it has none.
        """
        with self._tx(write=False) as conn:
            running, waiting = self._running(conn), self._waiting(conn)
        clock = self._left(running, running_left_s, default_budget_s)
        starts = {}
        for job in waiting:
            starts[job.id] = clock
            clock += default_budget_s if job.budget_s is None else job.budget_s
        return starts

    def _left(self, running: QueuedJob | None, left_s: float | None, default: float) -> float:
        if running is None:
            return 0.0
        if left_s is not None:
            return max(0.0, left_s)
        budget = default if running.budget_s is None else running.budget_s
        return max(0.0, budget - (self._clock() - (running.started or self._clock())))

    # --- changing -------------------------------------------------------------------

    def enqueue(self, kind: QueueKind | str, run_dir: str | Path, owner: str,
                params: dict[str, Any] | None = None,
                budget_s: float | None = None) -> QueuedJob:
        """Add a job at the end of the queue and return it.

        Raises:
            QueueError: the kind, owner, params or budget is invalid, or the run already
                has a waiting or running job.
        """
        kind, text = _checked(kind, owner, params, budget_s)
        run = str(Path(run_dir).expanduser().resolve())
        with self._tx() as conn:
            self._refuse_active(conn, run)
            last = conn.execute("SELECT MAX(position) FROM jobs").fetchone()[0]
            cursor = conn.execute(
                "INSERT INTO jobs (kind, run_dir, owner, params, budget_s, state, position, "
                "created) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
                (kind.value, run, owner, text, budget_s, (last or 0) + 1, self._clock()))
            job_id = cursor.lastrowid
            assert job_id is not None  # set by every INSERT
            return self._get(conn, job_id)

    def _refuse_active(self, conn: sqlite3.Connection, run: str) -> None:
        row = conn.execute("SELECT * FROM jobs WHERE run_dir = ? AND state IN "
                           "('queued', 'running')", (run,)).fetchone()
        if row is not None:
            job = QueuedJob._from_row(row)
            raise QueueError(f"The run {Path(run).name} already has job {job.id} "
                             f"({job.kind.value}, {job.state.value}, queued by {job.owner}); "
                             "expected no waiting or running job for it.")

    def claim_next(self, host: str, pid: int) -> QueuedJob | None:
        """Take the first waiting job and mark it running on ``host``/``pid``.

        Atomic across processes: returns None when the slot is taken or nothing waits,
        and two callers never both get a job.
        """
        with self._tx() as conn:
            if self._running(conn) is not None:
                return None
            waiting = self._waiting(conn)
            if not waiting:
                return None
            conn.execute("UPDATE jobs SET state = 'running', started = ?, host = ?, pid = ? "
                         "WHERE id = ?", (self._clock(), host, pid, waiting[0].id))
            return self._get(conn, waiting[0].id)

    def finish(self, job_id: int, state: JobState | str,
               message: str | None = None) -> QueuedJob:
        """Mark the running job ended with ``state`` (finished, failed, cancelled...).

        Raises:
            QueueError: the state is not an end state, or the job is not running.
        """
        state = JobState(state)
        if not state.is_done():
            raise QueueError(f"A job ends as one of {_names(s for s in JobState if s.is_done())}"
                             f"; got {state.value!r} for job {job_id}.")
        with self._tx() as conn:
            job = self._get(conn, job_id)
            if job.state is not JobState.RUNNING:
                raise QueueError(f"Job {job_id} is {job.state.value}; only a running job "
                                 "can be finished.")
            return self._end(conn, job, state, message)

    def _end(self, conn: sqlite3.Connection, job: QueuedJob, state: JobState,
             message: str | None) -> QueuedJob:
        conn.execute("UPDATE jobs SET state = ?, ended = ?, message = ? WHERE id = ?",
                     (state.value, self._clock(), message, job.id))
        return self._get(conn, job.id)

    def requeue(self, job_id: int, message: str | None = None) -> QueuedJob:
        """Put a running job back at the head of the queue (it could not get the slot).

        Raises:
            QueueError: the job is not running.
        """
        with self._tx() as conn:
            job = self._get(conn, job_id)
            if job.state is not JobState.RUNNING:
                raise QueueError(f"Job {job_id} is {job.state.value}; only a running job "
                                 "can go back to the queue.")
            return self._requeue(conn, job, message, job.requeues)

    def _requeue(self, conn: sqlite3.Connection, job: QueuedJob, message: str | None,
                 requeues: int) -> QueuedJob:
        first = conn.execute("SELECT MIN(position) FROM jobs").fetchone()[0] or 0
        conn.execute("UPDATE jobs SET state = 'queued', position = ?, started = NULL, "
                     "host = NULL, pid = NULL, message = ?, requeues = ? WHERE id = ?",
                     (first - 1, message, requeues, job.id))
        return self._get(conn, job.id)

    def cancel(self, job_id: int, actor: Actor) -> QueuedJob:
        """Take a waiting job out of the queue (it stays in the history as cancelled).

        Raises:
            QueueError: the role rules do not let ``actor`` cancel this job (a member cancels
                their own, an admin anyone's), or the job is not waiting (a running job is
                stopped from its run, not cancelled here).
        """
        user = actor.record_name
        with self._tx() as conn:
            job = self._get(conn, job_id)
            _refuse_other(job, actor, Action.CANCEL_JOB, "cancel")
            if job.state is JobState.RUNNING:
                raise QueueError(f"Job {job_id} ({Path(job.run_dir).name}) is running; stop "
                                 "its run instead of cancelling it from the queue.")
            if not job.state.is_waiting():
                raise QueueError(f"Job {job_id} has already ended ({job.state.value}); only "
                                 "a waiting job can be cancelled.")
            return self._end(conn, job, JobState.CANCELLED, f"cancelled by {user}")

    def move(self, job_id: int, steps: int, actor: Actor) -> int:
        """Move a waiting job ``steps`` places (negative: towards the front); returns its
        new 1-based position. Moves past the ends stop at the ends.

        A member may move only their own job, and only past their own jobs (within
        their share of the queue); an admin may move any job anywhere.

        Raises:
            QueueError: the job is not waiting, belongs to someone else, or the move would
                pass another user's job.
        """
        with self._tx() as conn:
            job = self._get(conn, job_id)
            _refuse_other(job, actor, Action.MOVE_JOB, "move")
            if not job.state.is_waiting():
                raise QueueError(f"Job {job_id} is {job.state.value}; only a waiting job "
                                 "can be moved.")
            waiting = self._waiting(conn)
            old = [j.id for j in waiting].index(job_id)
            new = min(max(old + steps, 0), len(waiting) - 1)
            passed = waiting[min(old, new):max(old, new) + 1]
            _refuse_passing(job, passed, actor)
            order = [j for j in waiting if j.id != job_id]
            order.insert(new, job)
            positions = sorted(j.position for j in waiting)  # reused in the new order
            conn.executemany("UPDATE jobs SET position = ? WHERE id = ?",
                             [(pos, j.id) for pos, j in zip(positions, order, strict=True)])
            return new + 1

    def recover(self, is_alive: Callable[[QueuedJob], bool]) -> list[QueuedJob]:
        """The running job whose process is gone (killed, its server or machine down): back
        at the head of the queue the first time, so another dispatcher resumes it; marked
        interrupted when its process died once already (a job that kills its process is
        not started again and again). Returns the job as changed, or nothing.

        ``is_alive`` says whether a job's process still runs (see :func:`process_alive`).
        Every dispatcher asks this as it polls; the check inside the write lock means one of
        them acts. Waiting jobs keep their order.
        """
        with self._tx(write=False) as conn:
            running = self._running(conn)
        if running is None or is_alive(running):  # asked outside the write lock
            return []
        with self._tx() as conn:
            now = self._get(conn, running.id)
            if (now.state, now.pid, now.started) != (running.state, running.pid,
                                                     running.started):
                return []  # it ended or changed meanwhile
            gone = f"process {running.pid} on {running.host} was gone"
            if now.requeues < MAX_REQUEUES:
                return [self._requeue(conn, now, f"{gone}; queued again to resume",
                                      now.requeues + 1)]
            note = f"{gone} again; resume the run to continue"
            return [self._end(conn, now, JobState.INTERRUPTED, note)]


def _refuse_other(job: QueuedJob, actor: Actor, action: Action, verb: str) -> None:
    """The one rule of owned resources (:mod:`tuning_core.lab.permissions`), said the
    queue's way."""
    if not actor.may(action, job.owner):
        raise QueueError(f"Job {job.id} belongs to {job.owner}; {actor.record_name} may not "
                         f"{verb} it (only its owner or an admin may).")


def _refuse_passing(job: QueuedJob, passed: list[QueuedJob], actor: Actor) -> None:
    """Passing another user's job moves theirs too: allowed to whoever may move theirs."""
    others = [j for j in passed if j.owner != job.owner]
    others = [j for j in others if not actor.may(Action.MOVE_JOB, j.owner)]
    if others:
        raise QueueError(f"Moving job {job.id} would pass job {others[0].id} of "
                         f"{others[0].owner}; a member moves jobs only within their own "
                         "share of the queue (an admin can move any job).")


__all__ = ["QUEUE_FILE", "QueueError", "QueueKind", "JobState", "QueuedJob", "JobQueue",
           "default_path", "process_alive"]

