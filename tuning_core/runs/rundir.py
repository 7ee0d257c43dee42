"""A run folder as one object: its settings, split, log, holder and best trials.

Pages, the command line and the engine ask a :class:`RunDir` rather than joining paths; the
file names and the layout are :mod:`tuning_core.runs.layout`'s (imported here, so
``rundir.RUN_FILE`` and the like still name them).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from tuning_core.core import atomic, diskspace
from tuning_core.core.errors import RunError
from tuning_core.core.states import Direction, JobKind, LogEvent, RunStatus, TrialStatus
from tuning_core.runs.layout import (  # noqa: F401  (the names, re-exported)
    BEST_DIR,
    CACHE_DIR,
    CHIEF_FILE,
    EVALUATION_FILE,
    EXPLAIN_DIR,
    EXPORT_MANIFEST,
    EXPORTS_DIR,
    HEALTH_DIR,
    HISTORY_FILE,
    HOLDER_FILE,
    HYPERPARAMETERS_FILE,
    IMPORTANCE_FILE,
    LOCK_FILE,
    LOG_FILE,
    MODEL_FILE,
    NOTES_FILE,
    PROJECT_DIR,
    REPORT_FILE,
    RETRAIN_LOG,
    RUN_FILE,
    SCRIPT_FILE,
    SPLIT_FILE,
    STOP_FILE,
    WORKER_LOCK,
    WORKER_LOG,
    WORKER_OUTPUT,
    file_stamp,
    read_config,
    read_notes,
)
from tuning_core.runs.locks import FileLock, LockHolder
from tuning_core.runs.notes import RunNotes
from tuning_core.runs.ranking import RankedTrial, ranked_trials
from tuning_core.runs.readers import shared_reader
from tuning_core.runs.runindex import logged_status
from tuning_core.runs.schema import RunConfig
from tuning_core.runs.triallog import TrialLogReader, TrialLogWriter

_RANKED: OrderedDict[tuple, list[RankedTrial]] = OrderedDict()  # see RunDir.best_trials
_RANKED_LOCK = threading.Lock()
_RANKED_KEPT = 8

class RunDir:
    """One run folder. Cheap to make: nothing is read until asked for."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()
        self._config: RunConfig | None = None

    @classmethod
    def real(cls, path: Path) -> RunDir:
        """The run folder at ``path``, already absolute with no link on the way (a plain
        folder of a resolved folder): made without resolving it again, as a listing of 1,000
        runs makes 1,000 per page run."""
        run = cls.__new__(cls)
        run.path, run._config = path, None
        return run

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    # --- creation and settings -------------------------------------------------------
    @classmethod
    def create(cls, runs_dir: str | Path, config: RunConfig) -> RunDir:
        """Make a new run folder named after the time and the run's name; write run.json."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(config.created))
        slug = re.sub(r"[^a-z0-9]+", "-", (config.name or config.tuner.tuner).lower()).strip("-")
        base = Path(runs_dir) / f"{stamp}-{slug or 'run'}"
        path, n = base, 1
        while True:
            try:
                path.mkdir(parents=True)
                break
            except FileExistsError:  # two processes creating runs in the same second
                n += 1
                path = base.with_name(f"{base.name}-{n}")
        run = cls(path)
        atomic.write_json(run.file(RUN_FILE), config.to_dict(), indent=2, keep_previous=True)
        return run

    def is_run(self) -> bool:
        """True when the folder holds a run.json."""
        return self.file(RUN_FILE).is_file()

    def file(self, name: str) -> Path:
        """A path inside the run folder."""
        return self.path / name

    def config(self) -> RunConfig:
        """The run's settings; RunError when the folder is not a readable run."""
        if self._config is None:
            self._config = read_config(self.path)
        return self._config

    @property
    def direction(self) -> Direction:
        """Which way the run's objective improves."""
        return self.config().tuner.direction

    # --- notes -------------------------------------------------------------------------
    def notes(self) -> RunNotes:
        """The run's name, notes and tags (empty ones before any edit); RunError when
        notes.json cannot be read."""
        return read_notes(self.path)

    def write_notes(self, notes: RunNotes) -> None:
        """Replace notes.json atomically, its previous version kept as notes.json.bak (checks
        and audit are the caller's: runs.edit_notes). DiskFullError (one line, the notes as
        they were) when the disk has no room for them."""
        try:
            atomic.write_json(self.file(NOTES_FILE), notes.to_dict(), indent=1,
                              keep_previous=True)
        except OSError as error:
            if not diskspace.is_disk_full(error):
                raise
            raise diskspace.full_error(self.path, 0, f"the notes of {self.name} (they are "
                                       "unchanged)") from error

    def display_name(self, notes: RunNotes | None = None) -> str:
        """What people call the run: its notes' name, else run.json's name, else the folder."""
        notes = notes if notes is not None else self.notes()
        return notes.name or self.config().name or self.name

    @property
    def dataset(self) -> str:
        """The name of the data folder the run trains on (the last part of its path)."""
        return Path(self.config().data_dir).name

    # --- files ---------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.file(LOG_FILE)

    @property
    def retrain_log_path(self) -> Path:
        return self.file(RETRAIN_LOG)

    @property
    def project_dir(self) -> Path:
        return self.file(PROJECT_DIR)

    @property
    def best_dir(self) -> Path:
        return self.file(BEST_DIR)

    @property
    def cache_dir(self) -> Path:
        return self.file(CACHE_DIR)

    @property
    def importance_path(self) -> Path:
        """The last hyperparameter importance fitted on this run's trials (a cache)."""
        return self.file(IMPORTANCE_FILE)

    @property
    def model_path(self) -> Path:
        return self.best_dir / MODEL_FILE

    def model_stamp(self) -> list[int] | None:
        """(mtime ns, size) of the best model: what its exports were made from; None before."""
        stamp = file_stamp(self.model_path)
        return list(stamp) if stamp else None

    @property
    def exports_dir(self) -> Path:
        return self.file(EXPORTS_DIR)

    def export_path(self, name: str) -> Path:
        """A file of exports/ by its bare name (RunError for anything that is not one)."""
        if not name or Path(name).name != name or name.startswith("."):
            raise RunError(f"expected a file name inside {EXPORTS_DIR}/; got {name!r}.")
        return self.exports_dir / name

    @property
    def export_manifest_path(self) -> Path:
        return self.exports_dir / EXPORT_MANIFEST

    @property
    def report_path(self) -> Path:
        return self.exports_dir / REPORT_FILE

    @property
    def script_path(self) -> Path:
        return self.exports_dir / SCRIPT_FILE

    @property
    def explain_dir(self) -> Path:
        return self.file(EXPLAIN_DIR)

    @property
    def health_dir(self) -> Path:
        return self.file(HEALTH_DIR)

    def log_writer(self) -> TrialLogWriter:
        return TrialLogWriter(self.log_path)

    def reader(self) -> TrialLogReader:
        """The shared, polled reader of the trial log, merged with every worker's log."""
        return shared_reader(self.log_path, WORKER_LOG.format("*"))

    def log_paths(self) -> list[Path]:
        """The trial log and every worker's, as :meth:`reader` merges them."""
        return [self.log_path, *sorted(self.path.glob(WORKER_LOG.format("*")))]

    def retrain_reader(self) -> TrialLogReader:
        """The shared, polled reader of the latest retrain's log."""
        return shared_reader(self.retrain_log_path)

    # --- distributed search -------------------------------------------------------------
    def worker_log_path(self, worker: str) -> Path:
        """The trial log a worker of a distributed search writes (no two share a file)."""
        return self.file(WORKER_LOG.format(_safe_id(worker)))

    def worker_lock(self, worker: str) -> FileLock:
        """A worker's lock: held while it lives; its record says host, device and trial."""
        return FileLock(self.file(WORKER_LOCK.format(_safe_id(worker))),
                        f"Worker {worker} of run {self.name}")

    def worker_ids(self) -> list[str]:
        """The ids of every worker that ever joined this run (their lock files)."""
        prefix, suffix = WORKER_LOCK.split("{}")
        return sorted(p.name[len(prefix):-len(suffix)]
                      for p in self.path.glob(WORKER_LOCK.format("*")))

    def worker_output_path(self, worker: str) -> Path:
        return self.file(WORKER_OUTPUT.format(_safe_id(worker)))

    @property
    def chief_path(self) -> Path:
        return self.file(CHIEF_FILE)

    def load_split(self) -> dict[str, Any] | None:
        """The saved split as a dict (restored from split.json.bak when a power cut left it
        unreadable), or None before the first start."""
        path = self.file(SPLIT_FILE)
        return atomic.read_json(path) if path.is_file() else None

    def save_split(self, data: dict[str, Any]) -> None:
        """Write split.json, keeping a spare (a resume must train on the same files)."""
        atomic.write_json(self.file(SPLIT_FILE), data, indent=None, keep_previous=True)

    def best_json(self, name: str) -> Any | None:
        """A JSON file of ``best/`` (evaluation, history, hyperparameters), or None."""
        atomic.recover_dir(self.best_dir)
        path = self.best_dir / name
        return json.loads(path.read_text()) if path.is_file() else None

    def has_best(self) -> bool:
        return (self.best_dir / EVALUATION_FILE).is_file()

    # --- the lock holder -------------------------------------------------------------------
    def lock(self) -> FileLock:
        """The run's lock (one writer across processes and machines)."""
        return FileLock(self.file(LOCK_FILE), f"Run {self.name}")

    def holder(self) -> LockHolder | None:
        """Who trains this run now (any process, any machine), or None. A run without a
        holder record is held by nobody: a released lock leaves its lock file (every run ever
        trained has one), not its record, so a list of 1,000 runs opens and locks none of
        them; the few milliseconds between taking a lock and writing its record, the run
        shows idle one look more."""
        if not self.file(HOLDER_FILE).exists():
            return None
        return self.lock().holder()

    def request_stop(self) -> bool:
        """Ask whoever trains the run to stop at its next batch; False when nobody does."""
        if self.holder() is None:
            return False
        atomic.write_text(self.stop_path, str(time.time()))
        return True

    @property
    def stop_path(self) -> Path:
        return self.file(STOP_FILE)

    def stop_requested(self) -> bool:
        return self.stop_path.exists()

    def clear_stop(self) -> None:
        self.stop_path.unlink(missing_ok=True)

    def status(self, holder: LockHolder | None = None) -> RunStatus:
        """Running or stopping while a holder lives; else what the search log says."""
        holder = holder or self.holder()
        if holder is not None and holder.kind == JobKind.SEARCH.value:
            return RunStatus.STOPPING if self.stop_requested() else RunStatus.RUNNING
        return self.logged_status()

    def logged_status(self) -> RunStatus:
        """The status the search log alone gives: a start without an end is interrupted."""
        return logged_status(self.reader().search_status)

    # --- trials --------------------------------------------------------------------------
    def best_trials(self) -> list[RankedTrial]:
        """Competing trials, best first: the one ranking every page and the retrain use.
        Ranked once per log position and direction in this process (0.15 s at 50,000 trials,
        asked twice a Best page run)."""
        version, trials, _ = self.reader().snapshot()
        key = (str(self.log_path), version, self.direction)
        with _RANKED_LOCK:
            ranked = _RANKED.get(key)
        if ranked is None:
            ranked = ranked_trials(trials, self.direction)
            with _RANKED_LOCK:
                _RANKED[key] = ranked
                while len(_RANKED) > _RANKED_KEPT:
                    _RANKED.popitem(last=False)
        return list(ranked)

    def trial_number(self, trial_id: str) -> int:
        """The number a trial is shown with: its earlier one, else one past the highest."""
        trials = self.reader().trials()
        if trials.empty:
            return 1
        known = trials.loc[trials["trial_id"] == str(trial_id), "number"].dropna()
        if not known.empty:
            return int(known.iloc[0])
        numbers = trials["number"].dropna()
        return int(numbers.max()) + 1 if not numbers.empty else 1

    def trial_record(self, trial_id: str) -> dict[str, Any]:
        """KerasTuner's record (trial.json) of a trial; RunError when it is missing."""
        path = self.project_dir / f"trial_{trial_id}" / "trial.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise RunError(f"trial {trial_id} of {self.name} has no readable {path.name} "
                           f"in {path.parent}; it cannot be retrained.") from error

    def reconcile(self) -> int:
        """Log a trial_end for each trial KerasTuner completed that the log misses.

        A kill between KerasTuner saving a trial and the log line leaves such a gap; after
        this every completed trial appears exactly once. Returns how many were added.
        """
        ended = {str(t) for t in _ended_ids(self.reader())}
        added = 0
        for path in sorted(self.project_dir.glob("trial_*/trial.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            trial_id = str(record.get("trial_id"))
            if record.get("status") == "COMPLETED" and trial_id not in ended:
                self.log_writer().write(LogEvent.TRIAL_END, trial_id=trial_id,
                                        status=TrialStatus.COMPLETED.value,
                                        score=record.get("score"), seconds=None, recovered=True)
                added += 1
        return added

    def worker_logs(self) -> dict[str, Path]:
        """Each worker's own trial log there now, by worker id (who wrote a line, by file)."""
        prefix, suffix = WORKER_LOG.split("{}")
        return {p.name[len(prefix):-len(suffix)]: p
                for p in sorted(self.path.glob(WORKER_LOG.format("*")))}


def _safe_id(worker: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", worker) or worker.startswith("."):
        raise RunError(f"expected a worker id of letters, digits, '_', '-' or '.'; "
                       f"got {worker!r}.")
    return worker


def _ended_ids(reader: TrialLogReader) -> list[str | None]:
    return [e.get("trial_id") for e in reader.events()
            if e.get("event") == LogEvent.TRIAL_END.value]
