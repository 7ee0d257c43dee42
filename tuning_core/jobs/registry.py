"""The job registry: starts searches and retrains in background threads, one writer per run.

Whoever trains a run holds the run's lock (:mod:`tuning_core.runs.locks`), across processes
and machines, and one job trains at a time per machine through the machine's training
slot (KerasTuner clears the Keras session at every trial, and two trainings would share
the same cores). A second start is refused with the holder's name, never run beside it.
Pages and the CLI talk to the registry; the background thread only writes the run folder.
"""

from __future__ import annotations

import atexit
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tuning_core.core import control
from tuning_core.core.errors import RunError, TuningError
from tuning_core.core.states import JobKind, RunStatus
from tuning_core.data.changes import Use
from tuning_core.lab.actor import Actor
from tuning_core.lab.permissions import Action
from tuning_core.runs.locks import FileLock, LockHolder, machine_slot
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig
from tuning_core.runs.triallog import TrialLogReader
from tuning_core.runs.trialtable import ended_count
from tuning_core.search import diskneeds, lifecycle


class Dispatcher(Protocol):
    """What the registry asks of the job queue's dispatcher (``dispatcher.QueueDispatcher``,
    which drives this registry: the registry does not know it by name)."""

    def submit(self, kind: JobKind, run: RunDir, actor: Actor, params: dict | None = None,
               budget_s: float | None = None) -> object: ...

    def job_ended(self, run: RunDir, error: str | None) -> None: ...

    def close(self) -> None: ...

SearchRunner = Callable[[Path], object]
RetrainRunner = Callable[..., object]  # (run folder, epochs, rank[, trial id])
SHUTDOWN_WAIT_S = 60.0


def _default_search(run_dir: Path) -> object:
    from tuning_core.distributed.launch import run_configured_search

    return run_configured_search(run_dir)


def _default_retrain(run_dir: Path, epochs: int, rank: int, trial_id: str | None = None) -> object:
    from tuning_core.model.best import retrain_best

    return retrain_best(run_dir, epochs, rank, trial_id)


@dataclass
class Progress:
    """A snapshot of a run's progress for the pages and the CLI, whoever trains it."""

    run_dir: Path
    state: RunStatus
    kind: JobKind | None  # what the run's holder does now; None when nobody trains it
    holder: LockHolder | None
    trials_done: int
    max_trials: int
    current_trial: int | None
    elapsed_s: float
    eta_s: float | None
    fraction: float
    message: str | None = None
    reason: str | None = None  # why its last search stopped, when not asked: "disk full"


@dataclass
class _Job:
    run: RunDir
    kind: JobKind
    thread: threading.Thread
    locks: list[FileLock]


class JobRegistry:
    """Starts, stops and reports the background jobs of one runs folder in this process."""

    def __init__(self, runs_dir: str | Path, search: SearchRunner = _default_search,
                 retrain: RetrainRunner = _default_retrain, machine_slot: bool = True) -> None:
        self.runs_dir = Path(runs_dir).resolve()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._search, self._retrain, self._use_slot = search, retrain, machine_slot
        self._lock = threading.Lock()
        self._job: _Job | None = None
        self._last_error: dict[Path, str] = {}
        self.dispatcher: Dispatcher | None = None  # set by dispatch.serve_queue

    def start_search(self, config: RunConfig, actor: Actor | None = None) -> Path:
        """Validate the settings, make a run folder and start its search; returns the folder.

        The run is owned by the actor; PermissionDeniedError when their role may not launch.
        """
        actor = actor or Actor()
        actor.check(Action.LAUNCH, target=config.name or None)
        config.validate()
        config.data_dir = str(actor.data_folder(config.data_dir))  # resolved once, confined
        config.data_roots = [str(root) for root in actor.roots or []]  # the job's scan, too
        config.owner = actor.name
        diskneeds.check_search(config, self.runs_dir)  # a full disk refused before the start
        if self.dispatcher is not None:
            run = RunDir.create(self.runs_dir, config)
            self.dispatcher.submit(JobKind.SEARCH, run, actor, budget_s=_budget(config))
            actor.record(Action.LAUNCH, target=run.name)
            return run.path
        user = actor.name
        with self._lock:
            slot = self._take_slot(JobKind.SEARCH, user, "a new run")
            try:
                run = RunDir.create(self.runs_dir, config)
                if slot:
                    slot.update_holder(target=run.name)
                locks = [slot, *self._take_run(run, JobKind.SEARCH, user)] if slot else \
                    self._take_run(run, JobKind.SEARCH, user)
            except BaseException:
                if slot:
                    slot.release()
                raise
            self._launch(run, JobKind.SEARCH, locks, lambda: self._search(run.path),
                         config.tuner.max_minutes)
        actor.record(Action.LAUNCH, target=run.name)
        return run.path

    def resume(self, run_dir: str | Path, actor: Actor | None = None) -> None:
        """Continue an interrupted or stopped run; completed trials are kept."""
        actor = actor or Actor()
        run = RunDir(run_dir)
        config = run.config()
        actor.check(Action.RESUME, owner=config.owner, target=run.name)
        diskneeds.check_search(config, run.path.parent, run)
        lifecycle.check_folder(run, Use.RESUME)  # a folder edited under the run (issue 27)
        if self.dispatcher is not None:
            _check_resumable(run)
            self.dispatcher.submit(JobKind.SEARCH, run, actor, budget_s=_budget(config))
        else:
            self.resume_now(run, actor.name)
        actor.record(Action.RESUME, target=run.name)

    def resume_now(self, run: RunDir, user: str = "") -> None:
        """Take the run's lock and the slot and resume it at once (no permission check)."""
        with self._lock:
            locks = self._take_all(run, JobKind.SEARCH, user)
            try:
                _check_resumable(run)
            except RunError:
                _release(locks)
                raise
            self._launch(run, JobKind.SEARCH, locks, lambda: self._search(run.path),
                         run.config().tuner.max_minutes)

    def start_retrain(self, run_dir: str | Path, epochs: int = 30, rank: int = 1,
                      actor: Actor | None = None, trial_id: str | None = None) -> None:
        """Retrain the rank-th best trial of a run (or the trial ``trial_id``, as chosen by
        cost) on all its training images, then test it."""
        actor = actor or Actor()
        run = RunDir(run_dir)
        actor.check(Action.RETRAIN, owner=run.config().owner, target=run.name)
        if epochs < 1:
            raise RunError(f"epochs must be at least 1; got {epochs}.")
        diskneeds.check_retrain(run)
        lifecycle.check_folder(run, Use.RETRAIN)
        if self.dispatcher is not None:
            params = {"epochs": epochs, "rank": rank,
                      **({"trial_id": trial_id} if trial_id else {})}
            self.dispatcher.submit(JobKind.RETRAIN, run, actor, params=params)
        else:
            self.retrain_now(run, epochs, rank, actor.name, trial_id)
        which = f"trial {trial_id}" if trial_id else f"rank {rank}"
        actor.record(Action.RETRAIN, target=run.name, detail=f"{which}, {epochs} epochs")

    def retrain_now(self, run: RunDir, epochs: int, rank: int, user: str = "",
                    trial_id: str | None = None) -> None:
        """Take the run's lock and the slot and retrain at once (no permission check)."""
        chosen = [trial_id] if trial_id else []  # a runner given no trial takes the rank
        with self._lock:
            locks = self._take_all(run, JobKind.RETRAIN, user)
            self._launch(run, JobKind.RETRAIN, locks,
                         lambda: self._retrain(run.path, epochs, rank, *chosen))

    def stop(self, run_dir: str | Path, actor: Actor | None = None) -> bool:
        """Ask the run's job to stop at its next batch, whichever process trains it.

        False when nobody trains the run; PermissionDeniedError when the actor may not.
        """
        actor = actor or Actor()
        run = RunDir(run_dir)
        actor.check(Action.STOP, owner=run.config().owner, target=run.name)
        stopped = control.request_stop(str(run.path)) or run.request_stop()
        if stopped:
            actor.record(Action.STOP, target=run.name)
        return stopped

    def active_run(self) -> Path | None:
        """The run folder this process trains now, if any."""
        job = self._alive_job()
        return job.run.path if job else None

    def active_kind(self) -> JobKind | None:
        """What this process trains now, if anything."""
        job = self._alive_job()
        return job.kind if job else None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until this process's job ends; False on timeout."""
        job = self._job
        if job is None:
            return True
        job.thread.join(timeout)
        return not job.thread.is_alive()

    def shutdown(self, timeout: float = SHUTDOWN_WAIT_S) -> None:
        """Stop this process's job at its next batch and wait for it to write its end.

        The queue's dispatcher stops first, so no queued job starts while the process goes.
        """
        if self.dispatcher is not None:
            self.dispatcher.close()
        job = self._alive_job()
        if job is not None:
            control.request_stop(str(job.run.path))
            job.thread.join(timeout)

    def last_error(self, run_dir: str | Path) -> str | None:
        """The error that ended the last job of this run in this process, if any."""
        return self._last_error.get(RunDir(run_dir).path)

    def progress(self, run_dir: str | Path) -> Progress:
        """Where the run stands: state, holder, trial k of N, elapsed and estimated time left."""
        run = RunDir(run_dir)
        return run_progress(run, self.last_error(run.path))

    def _alive_job(self) -> _Job | None:
        job = self._job
        return job if job and job.thread.is_alive() else None

    def _take_slot(self, kind: JobKind, user: str, target: str) -> FileLock | None:
        if not self._use_slot:
            return None
        slot = machine_slot()
        slot.acquire(LockHolder.mine(kind.value, user, target))
        return slot

    def _take_run(self, run: RunDir, kind: JobKind, user: str) -> list[FileLock]:
        lock = run.lock()
        lock.acquire(LockHolder.mine(kind.value, user, run.name))
        run.clear_stop()  # a stop asked of an earlier job must not end this one
        return [lock]

    def _take_all(self, run: RunDir, kind: JobKind, user: str) -> list[FileLock]:
        # The run's lock first: "this run is trained by ..." says more than "the slot is busy".
        locks = self._take_run(run, kind, user)
        try:
            slot = self._take_slot(kind, user, run.name)
        except BaseException:
            _release(locks)
            raise
        return ([slot] if slot else []) + locks

    def _launch(self, run: RunDir, kind: JobKind, locks: list[FileLock],
                work: Callable[[], object], max_minutes: float | None = None) -> None:
        key = str(run.path)
        control.register(key, max_minutes, stop_file=str(run.stop_path))
        thread = threading.Thread(target=self._guard, args=(run, locks, work), daemon=True,
                                  name=f"{kind.value}:{run.name}")
        self._job = _Job(run=run, kind=kind, thread=thread, locks=locks)
        self._last_error.pop(run.path, None)
        thread.start()

    def _guard(self, run: RunDir, locks: list[FileLock], work: Callable[[], object]) -> None:
        try:
            work()
        except TuningError as error:
            self._last_error[run.path] = str(error)
        except Exception as error:  # a thread's error must reach the pages, not vanish
            self._last_error[run.path] = f"{type(error).__name__}: {error}"
        finally:
            control.unregister(str(run.path))
            run.clear_stop()
            _release(reversed(locks))
            if self.dispatcher is not None:
                self.dispatcher.job_ended(run, self._last_error.get(run.path))


def _check_resumable(run: RunDir) -> None:
    state = run.logged_status()
    if not state.is_resumable():
        raise RunError(f"{run.name} is {state.label}; only an interrupted, stopped, failed or "
                       "new run can be resumed.")


def _budget(config: RunConfig) -> float | None:
    """Seconds a search is expected to take, when its settings bound it (for queue estimates)."""
    return 60.0 * config.tuner.max_minutes if config.tuner.max_minutes else None


def _release(locks) -> None:
    for lock in locks:
        lock.release()


def run_progress(run: RunDir, error: str | None = None) -> Progress:
    """A run's progress read from its folder and its holder record (no registry needed)."""
    holder = run.holder()
    kind = _kind(holder)
    reader = run.reader()
    max_trials = int((reader.last_start or {}).get("max_trials") or 0)
    done = ended_count(reader.trials())
    trials = reader.trials()
    running = trials[trials["status"] == "running"] if not trials.empty else trials
    searching = kind is JobKind.SEARCH
    current = int(running["number"].iloc[-1]) if searching and not running.empty else None
    elapsed = time.time() - holder.started if holder else 0.0
    eta = _eta(reader, done, max_trials) if searching else None
    fraction = min(1.0, done / max_trials) if max_trials else 0.0
    message = error or (reader.last_end or {}).get("message")
    state = run.status(holder)
    reason = None if state.is_active() else (reader.last_end or {}).get("reason")
    return Progress(run.path, state, kind, holder, done, max_trials, current,
                    elapsed, eta, fraction, message, reason)


def _kind(holder: LockHolder | None) -> JobKind | None:
    try:
        return JobKind(holder.kind) if holder else None
    except ValueError:
        return None  # a delete or prune holds the lock for a moment: not a training job


def _eta(reader: TrialLogReader, done: int, max_trials: int) -> float | None:
    trials = reader.trials()
    if done == 0 or trials.empty:
        return None
    seconds = trials["seconds"].dropna().tolist()
    return statistics.median(seconds) * max(0, max_trials - done) if seconds else None


_REGISTRIES: dict[Path, JobRegistry] = {}
_REGISTRIES_LOCK = threading.Lock()


def get_registry(runs_dir: str | Path) -> JobRegistry:
    """The process's registry for ``runs_dir`` (created on first use). The dashboard's, whose
    starts go through the workspace's job queue, is ``dispatcher.queued_registry``."""
    key = Path(runs_dir).resolve()
    with _REGISTRIES_LOCK:
        if key not in _REGISTRIES:
            if not _REGISTRIES:
                atexit.register(shutdown_all)
            _REGISTRIES[key] = JobRegistry(key)
        return _REGISTRIES[key]


def install_registry(registry: JobRegistry) -> JobRegistry:
    """Make ``registry`` the process's registry of its runs folder (tests hand in fake runners)."""
    with _REGISTRIES_LOCK:
        if not _REGISTRIES:
            atexit.register(shutdown_all)
        _REGISTRIES[registry.runs_dir] = registry
    return registry


def shutdown_all(timeout: float = SHUTDOWN_WAIT_S) -> None:
    """Stop every job of this process cleanly: a SIGTERM or Ctrl-C of the server ends here.

    The server's ASGI lifespan calls it at shutdown (``pages/common/server.py``: uvicorn
    re-raises the signal afterwards, so no exit hook would run); it is also registered to run at
    interpreter exit for any other host. Each trial ends at its next batch and writes its
    ``trial_end`` and ``search_end`` before the process goes.
    """
    with _REGISTRIES_LOCK:
        registries = list(_REGISTRIES.values())
    for registry in registries:
        registry.shutdown(timeout)
