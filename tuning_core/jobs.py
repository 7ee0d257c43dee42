"""The job registry: one per process, thread-safe; runs searches and retrains in the background.

One job trains at a time in a process (KerasTuner clears the Keras session at every
trial, so a second model built meanwhile would be wiped): a second start is refused
with JobBusyError, never queued. Pages and the CLI talk to the registry; the
background thread only writes the run folder.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import control
from .errors import JobBusyError, RunError, TuningError
from .runs import RunStatus, create_run, ended_trials, load_config, status_from_log
from .settings import RunConfig
from .triallog import LOG_NAME, TrialLogReader


@dataclass
class Progress:
    """A snapshot of a run's progress for the pages and the CLI."""

    run_dir: Path
    state: RunStatus
    kind: str | None  # "search", "retrain" or None when nothing trains this run
    trials_done: int
    max_trials: int
    current_trial: int | None
    elapsed_s: float
    eta_s: float | None
    fraction: float
    message: str | None = None


@dataclass
class _Job:
    run_dir: Path
    kind: str
    thread: threading.Thread
    started: float
    error: str | None = None


class JobRegistry:
    """Starts, stops and reports the background jobs of one runs folder."""

    def __init__(self, runs_dir: str | Path) -> None:
        self.runs_dir = Path(runs_dir)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._job: _Job | None = None
        self._last_error: dict[Path, str] = {}
        self._readers: dict[Path, TrialLogReader] = {}

    def start_search(self, config: RunConfig) -> Path:
        """Validate the settings, make a run folder and start its search; returns the folder."""
        config.validate()
        with self._lock:
            self._refuse_if_busy()
            run_dir = create_run(self.runs_dir, config)
            self._launch(run_dir, "search", max_minutes=config.tuner.max_minutes)
        return run_dir

    def resume(self, run_dir: str | Path) -> None:
        """Continue an interrupted or stopped run; completed trials are kept."""
        run_dir = Path(run_dir)
        config = load_config(run_dir)
        with self._lock:
            self._refuse_if_busy()
            state = status_from_log(self._reader(run_dir).search_status)
            if not state.is_resumable():
                raise RunError(f"{run_dir.name} is {state.value}; only an interrupted, stopped "
                               "or failed run can be resumed.")
            self._launch(run_dir, "search", max_minutes=config.tuner.max_minutes)

    def start_retrain(self, run_dir: str | Path, epochs: int = 30, rank: int = 1) -> None:
        """Retrain the rank-th best trial of a run on all its training images, then test it."""
        from .best import retrain_best

        run_dir = Path(run_dir)
        load_config(run_dir)
        with self._lock:
            self._refuse_if_busy()
            self._launch(run_dir, "retrain", target=lambda: retrain_best(run_dir, epochs, rank))

    def stop(self, run_dir: str | Path) -> bool:
        """Ask the run's job to stop after the current batch; False when it was not running."""
        return control.request_stop(str(Path(run_dir)))

    def active_run(self) -> Path | None:
        """The run folder being trained now, if any."""
        with self._lock:
            job = self._job
            return job.run_dir if job and job.thread.is_alive() else None

    def active_kind(self) -> str | None:
        """"search" or "retrain" while a job runs, else None."""
        with self._lock:
            job = self._job
            return job.kind if job and job.thread.is_alive() else None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current job ends; False on timeout."""
        job = self._job
        if job is None:
            return True
        job.thread.join(timeout)
        return not job.thread.is_alive()

    def _refuse_if_busy(self) -> None:
        job = self._job
        if job is not None and job.thread.is_alive():
            raise JobBusyError(
                f"A {job.kind} is already training ({job.run_dir.name}); one job trains at a "
                "time in this process. Stop it or wait for it to end.")

    def _launch(self, run_dir: Path, kind: str, max_minutes: float | None = None,
                target: Callable[[], object] | None = None) -> None:
        from .search import run_search

        control.register(str(run_dir), max_minutes)
        work = target or (lambda: run_search(run_dir))
        thread = threading.Thread(target=self._guard, args=(run_dir, work), daemon=True,
                                  name=f"{kind}:{run_dir.name}")
        self._job = _Job(run_dir=run_dir, kind=kind, thread=thread, started=time.time())
        self._last_error.pop(run_dir, None)
        thread.start()

    def _guard(self, run_dir: Path, work: Callable[[], object]) -> None:
        try:
            work()
        except TuningError as error:
            self._last_error[run_dir] = str(error)
        except Exception as error:  # a thread's error must reach the pages, not vanish
            self._last_error[run_dir] = f"{type(error).__name__}: {error}"
        finally:
            control.unregister(str(run_dir))

    def last_error(self, run_dir: str | Path) -> str | None:
        """The error that ended the last job of this run in this process, if any."""
        return self._last_error.get(Path(run_dir))

    def _reader(self, run_dir: Path) -> TrialLogReader:
        reader = self._readers.get(run_dir)
        if reader is None:
            reader = self._readers[run_dir] = TrialLogReader(run_dir / LOG_NAME)
        reader.poll()
        return reader

    def progress(self, run_dir: str | Path) -> Progress:
        """Where the run stands: state, trial k of N, elapsed and estimated time left."""
        run_dir = Path(run_dir)
        with self._lock:
            job = self._job if self._job and self._job.run_dir == run_dir else None
            alive = job is not None and job.thread.is_alive()
            reader = self._reader(run_dir)
        return _progress(run_dir, reader, job if alive else None, self.last_error(run_dir))


def _progress(run_dir: Path, reader: TrialLogReader, job: _Job | None,
              error: str | None) -> Progress:
    # The reader keeps the latest start and end: no scan of every event on each poll.
    max_trials = int((reader.last_start or {}).get("max_trials") or 0)
    done = ended_trials(reader)
    trials = reader.trials()
    running = trials[trials["status"] == "running"] if not trials.empty else trials
    current = int(running["number"].iloc[-1]) if job and not running.empty else None
    state = status_from_log(reader.search_status)
    if job is not None:
        stopping = control.get(str(run_dir))
        state = RunStatus.STOPPING if stopping and stopping.stop.is_set() else RunStatus.RUNNING
    elapsed = time.time() - job.started if job else 0.0
    eta = _eta(trials, done, max_trials) if job and job.kind == "search" else None
    fraction = min(1.0, done / max_trials) if max_trials else 0.0
    message = error or (reader.last_end or {}).get("message")
    return Progress(run_dir, state, job.kind if job else None, done, max_trials, current,
                    elapsed, eta, fraction, message)


def _eta(trials, done: int, max_trials: int) -> float | None:
    if done == 0 or trials.empty:
        return None
    seconds = trials["seconds"].dropna().tolist()
    return statistics.median(seconds) * max(0, max_trials - done) if seconds else None


_REGISTRIES: dict[Path, JobRegistry] = {}
_REGISTRIES_LOCK = threading.Lock()


def get_registry(runs_dir: str | Path) -> JobRegistry:
    """The process's registry for ``runs_dir`` (created on first use)."""
    key = Path(runs_dir).resolve()
    with _REGISTRIES_LOCK:
        if key not in _REGISTRIES:
            _REGISTRIES[key] = JobRegistry(key)
        return _REGISTRIES[key]
