"""The queue's dispatcher: starts queued jobs, in order, as this machine's training slot frees.

A dashboard server attaches one to its job registry. Launch, Resume and Retrain then never
answer "busy": the job waits in the workspace's queue (:mod:`tuning_core.jobs.queue`) and
starts by itself. Every server on the workspace runs a dispatcher; the queue's atomic claim
means only one of them takes each job, and the run's lock that only one process trains it.
Each dispatcher also looks, as it polls, for a running job whose process died (a server
killed, a machine cut off): the job goes back to the head of the queue once, and a live
dispatcher resumes it. The dispatcher holds ``queue.lock`` beside the queue while it lives,
so the command line can tell that a dashboard serves the queue.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuning_core.core import diskspace
from tuning_core.core.errors import LockHeldError, TuningError
from tuning_core.core.states import JobKind, RunStatus
from tuning_core.core.workspace import queue_path, workspace_of_runs
from tuning_core.jobs.queue import JobQueue
from tuning_core.jobs.records import JobState, QueuedJob, QueueError, QueueKind, process_alive
from tuning_core.jobs.registry import JobRegistry, get_registry
from tuning_core.lab.actor import Actor
from tuning_core.runs.locks import FileLock, LockHolder, machine_slot, this_host
from tuning_core.runs.rundir import RunDir

POLL_S = 1.0
DEFAULT_BUDGET_S = 600.0  # assumed length of a job whose settings give no time budget


_SERVING = threading.Lock()


def serve_queue(registry: JobRegistry, queue: JobQueue) -> QueueDispatcher:
    """Send every start of ``registry`` through ``queue`` (FIFO) and start queued jobs as the
    slot frees: a dispatcher drives the registry, which knows it only as its ``dispatcher``."""
    dispatcher = QueueDispatcher(registry, queue)
    registry.dispatcher = dispatcher
    dispatcher.start()
    return dispatcher


def queued_registry(runs_dir: str | Path) -> JobRegistry:
    """The process's registry for ``runs_dir``, serving the workspace's job queue (the
    dashboard server's, made once)."""
    registry = get_registry(runs_dir)
    with _SERVING:
        if registry.dispatcher is None:
            serve_queue(registry, queue_for(runs_dir))
    return registry


def queue_for(runs_dir: str | Path) -> JobQueue:
    """The queue of the workspace that holds ``runs_dir`` (beside it, like the dashboard's)."""
    return JobQueue(queue_path(workspace_of_runs(runs_dir)))


def serving_dashboard(queue: JobQueue) -> LockHolder | None:
    """The dashboard process whose dispatcher serves ``queue`` now, if any."""
    return _presence(queue).holder()


def _presence(queue: JobQueue) -> FileLock:
    return FileLock(Path(queue.path).with_name("queue.lock"), "The queue's dispatcher")


@dataclass(frozen=True)
class QueueEntry:
    """A waiting or running job as the pages show it."""

    job: QueuedJob
    position: int | None  # 1-based among the waiting, None for the running job
    starts_in_s: float | None  # None for the running job
    assumed: bool  # True when a job on the way had no time budget (DEFAULT_BUDGET_S assumed)


class QueueDispatcher:
    """Starts the registry's queued jobs one at a time; safe to share between threads."""

    def __init__(self, registry: JobRegistry, queue: JobQueue) -> None:
        self.registry, self.queue = registry, queue
        self._running: dict[Path, int] = {}  # run folder -> queue job id, jobs started here
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._presence = _presence(queue)

    def start(self) -> None:
        """Recover after a restart, then poll the queue in a background thread."""
        self.recovered = self.queue.recover(process_alive)
        # another dashboard may serve it too: the queue's claim keeps them apart
        with contextlib.suppress(LockHeldError):
            self._presence.acquire(LockHolder.mine("dashboard"))
        self._thread = threading.Thread(target=self._loop, daemon=True, name="queue")
        self._thread.start()

    def close(self) -> None:
        """Stop polling (jobs already started go on)."""
        self._stop.set()
        self._wake.set()
        self._presence.release()

    def submit(self, kind: JobKind, run: RunDir, actor: Actor,
               params: dict[str, Any] | None = None, budget_s: float | None = None) -> QueuedJob:
        """Queue a job for ``run`` and start it at once when the slot is free."""
        queued_kind = QueueKind.RETRAIN if kind is JobKind.RETRAIN else QueueKind.SEARCH
        job = self.queue.enqueue(queued_kind, run.path, actor.record_name, params, budget_s)
        self.dispatch_once()
        return job

    def dispatch_once(self) -> QueuedJob | None:
        """Start the first waiting job if this machine can train now; returns it, or None."""
        if self.registry.active_run() is not None or (
                self.registry._use_slot and machine_slot().holder() is not None):
            return None
        job = self.queue.claim_next(this_host(), os.getpid())
        if job is None:
            return None
        run = RunDir(job.run_dir)
        try:
            self._running[run.path] = job.id
            self._start(job, run)
        except LockHeldError as busy:  # someone (the CLI, another server) took it meanwhile
            self._running.pop(run.path, None)
            self.queue.requeue(job.id, str(busy))
            return None
        except TuningError as error:  # the run was deleted, or is no longer resumable
            self._running.pop(run.path, None)
            self.queue.finish(job.id, JobState.FAILED, str(error))
            return None
        return job

    def _start(self, job: QueuedJob, run: RunDir) -> None:
        if job.kind is QueueKind.RETRAIN:
            self.registry.retrain_now(run, int(job.params.get("epochs", 30)),
                                      int(job.params.get("rank", 1)), job.owner,
                                      job.params.get("trial_id"))
        else:
            self.registry.resume_now(run, job.owner)

    def job_ended(self, run: RunDir, error: str | None) -> None:
        """Called by the registry when a job it started ends: record it, start the next."""
        job_id = self._running.pop(run.path, None)
        if job_id is not None:
            state, message = _outcome(run, error)
            # recovered as interrupted by another server meanwhile: keep its word
            with contextlib.suppress(QueueError):
                self.queue.finish(job_id, state, message)
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            # an unreadable queue file: the pages show the error; try again later
            with contextlib.suppress(TuningError):
                self.queue.recover(process_alive)  # a job whose server died: back once
                self.dispatch_once()
            self._wake.wait(POLL_S)
            self._wake.clear()

    def entries(self) -> list[QueueEntry]:
        """The running job and the waiting ones, in order, with estimated start times (from
        the running job's estimated time left). TuningError when the queue cannot be read."""
        running = self.queue.running()
        left = self.registry.progress(Path(running.run_dir)).eta_s if running else None
        return queue_entries(self.queue, left)


def queue_entries(queue: JobQueue, running_left_s: float | None) -> list[QueueEntry]:
    """The running job and the waiting ones, in order, with estimated start times."""
    starts = queue.estimated_starts(running_left_s, DEFAULT_BUDGET_S)
    entries, assumed = [], running_left_s is None and queue.running() is not None
    for job in queue.jobs():
        if job.state is JobState.RUNNING:
            entries.append(QueueEntry(job, None, None, False))
            continue
        entries.append(QueueEntry(job, queue.position(job.id), starts.get(job.id), assumed))
        assumed = assumed or job.budget_s is None
    return entries


def _outcome(run: RunDir, error: str | None) -> tuple[JobState, str | None]:
    if error:
        return JobState.FAILED, error
    status = run.logged_status()
    end = run.reader().last_end or {}
    if status is RunStatus.FAILED:
        return JobState.FAILED, end.get("message")
    if end.get("reason") == diskspace.REASON:  # the queue says "disk full: N MB free on ..."
        return JobState.FINISHED, end.get("message")
    return JobState.FINISHED, status.label
