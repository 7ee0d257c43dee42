"""A run folder's layout: every file name of a run, and the readers of its two small
settings files, shared by :class:`~tuning_core.runs.rundir.RunDir` (which pages, the
command line and the engine ask rather than joining paths) and the run's index (which the
trial log's writer keeps, so it may not import ``rundir``: that reads logs). Layout::

    run.json        settings (written once, atomically; a spare copy in run.json.bak)
    notes.json      what people call the run and say about it: name, notes, tags (editable;
                    the previous version in notes.json.bak)
    split.json      the file split, fixed at the first start so a resume trains on the same files
                    (a spare in split.json.bak)
    trials.jsonl    the trial log (search_start, trial_start, epoch_end, trial_end, search_end)
    retrain.jsonl   the latest retrain's log (retrain_start, epoch_end, retrain_end)
    index.json      the run's headline (counts, best score, state, size), kept by the log's writer
    .<log>.checkpoint.npz
                    what a reader made of a long log, stamped with the log's inode and ends: a
                    fresh server starts from it instead of replaying (a cache: runs.logcheckpoint)
    .importance.json
                    the last hyperparameter importance fitted, keyed by a digest of the forest's
                    input (a cache: analysis.importance)
    tuner/          the KerasTuner project
    best/           the retrained best model and its evaluation (swapped in whole)
    exports/        checked exports (manifest.json), the report and the standalone script
    explain/        the best model's explanations (explanation.json, Grad-CAM PNGs)
    health/         the data health check's flags (health.json and thumbnails)
    owner.lock      the run's lock; owner.json beside it says who trains the run
    stop.request    present while someone asks the holder to stop

A distributed search (``search --workers``) adds::

    chief.json               where the chief serves KerasTuner's oracle: host, port, pid
    trials-<worker>.jsonl    each worker's own trial log (merged with trials.jsonl on read)
    worker-<worker>.lock     each worker's lock; worker-<worker>.json: host, device, trial
    worker-<worker>.out      a local worker's stdout and stderr
"""

from __future__ import annotations

from pathlib import Path

from tuning_core.core import atomic
from tuning_core.core.errors import NotesError, RunError, TuningError
from tuning_core.runs.notes import RunNotes
from tuning_core.runs.schema import RunConfig

RUN_FILE = "run.json"
NOTES_FILE = "notes.json"
SPLIT_FILE = "split.json"
LOG_FILE = "trials.jsonl"
RETRAIN_LOG = "retrain.jsonl"
PROJECT_DIR = "tuner"
BEST_DIR = "best"
CACHE_DIR = "cache"
LOCK_FILE = "owner.lock"
# the lock's holder record (``FileLock``: the lock file's name with ".json"), there only while
# someone holds it or one that died holding it left it
HOLDER_FILE = "owner.json"
STOP_FILE = "stop.request"
MODEL_FILE = "model.keras"
EVALUATION_FILE = "evaluation.json"
HISTORY_FILE = "history.json"
HYPERPARAMETERS_FILE = "hyperparameters.json"
CHIEF_FILE = "chief.json"
EXPORTS_DIR = "exports"
EXPORT_MANIFEST = "manifest.json"
REPORT_FILE = "report.html"
SCRIPT_FILE = "search_script.py"
EXPLAIN_DIR = "explain"
HEALTH_DIR = "health"
IMPORTANCE_FILE = ".importance.json"
WORKER_LOG = "trials-{}.jsonl"
WORKER_LOCK = "worker-{}.lock"
WORKER_OUTPUT = "worker-{}.out"


def file_stamp(path: Path) -> tuple[int, int] | None:
    """A file's (mtime in ns, size), None when it cannot be read: changes when it is written."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def read_config(run_dir: Path) -> RunConfig:
    """A run's settings (``run.json``); RunError when the folder is not a readable run."""
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise RunError(f"{run_dir} is not a run folder: expected a {RUN_FILE} in it.")
    try:
        return RunConfig.from_dict(atomic.read_json(path))
    except (ValueError, KeyError, TypeError, TuningError) as error:
        raise RunError(f"{path} cannot be read: {error}") from error


def read_notes(run_dir: Path) -> RunNotes:
    """A run's name, notes and tags (empty ones before any edit); RunError when
    ``notes.json`` cannot be read."""
    path = run_dir / NOTES_FILE
    if not path.is_file():
        return RunNotes()
    try:
        return RunNotes.from_dict(atomic.read_json(path))
    except (ValueError, TypeError, NotesError) as error:
        raise RunError(f"{path} cannot be read: {error}") from error
