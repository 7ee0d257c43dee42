"""One search's lifecycle, shared by the plain search, a distributed search's chief and
its workers: the data, the hypermodel, the start and end lines, and how trials train.

``run_search`` (the code path of the pages and the CLI) never raises for a search that went
wrong: :func:`search_lifecycle` writes the outcome to the trial log (``search_end`` with a
status and a message) and the status is returned, so a background thread has nothing to
lose. The chief (:mod:`tuning_core.distributed.launch`) runs in the same lifecycle; each
worker (:mod:`tuning_core.distributed.worker`) prepares its data, builds the same
hypermodel and trains through :func:`search_with_frozen_gc`.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuning_core.core import control, diskspace
from tuning_core.core.control import SearchHalted
from tuning_core.core.errors import DatasetError, DiskFullError, TuningError
from tuning_core.core.states import LogEvent, SearchEnd
from tuning_core.data import changes
from tuning_core.data.dataset import ImageCache, Split, scan, split_files
from tuning_core.data.pipeline import TrainingData
from tuning_core.runs import exclusions, pruning
from tuning_core.runs.rundir import SPLIT_FILE, RunDir, file_stamp
from tuning_core.runs.schema import RunConfig
from tuning_core.search import precision


def load_or_make_split(run: RunDir) -> Split:
    """The run's file split: made and saved at the first start (without the files on the
    dataset's exclusion list, which it records, and with each file's stamp and the files the
    scan skipped, so a folder edited later is told apart: :mod:`tuning_core.data.changes`),
    read back afterwards."""
    saved = run.load_split()
    if saved is not None:
        return Split.from_dict(saved)
    config = run.config()
    summary = scan(config.data_dir, [Path(r) for r in config.data_roots] or None)
    excluded = exclusions.load(run.path.parent, summary.root)  # the dataset's, if any
    split = split_files(excluded.apply(summary), config.split)
    listed = [p for p, _ in split.train + split.val + split.test]
    run.save_split({**split.to_dict(), "excluded": sorted(excluded.paths),
                    changes.SKIPPED_KEY: [s.path for s in summary.skipped],
                    changes.STAMPS_KEY: changes.stamp_files(split.root, listed)})
    return split


def folder_changes(run: RunDir) -> changes.FolderChanges:
    """What changed in the run's data folder since its split was fixed (nothing before)."""
    saved = run.load_split()
    if saved is None:
        return changes.FolderChanges(run.config().data_dir, 0)
    return changes.compare(saved)


def usable_split(run: RunDir, use: changes.Use,
                 found: changes.FolderChanges | None = None
                 ) -> tuple[Split, changes.FolderChanges]:
    """The split ``use`` reads now, and the changes it was made from; DatasetError, one
    line, when the job cannot go on (the job registry asks before a resume or retrain)."""
    split = load_or_make_split(run)
    found = found if found is not None else folder_changes(run)
    return found.usable(split, use), found


NOTICE_TTL_S = 30.0  # a file replaced in place moves no folder's time: asked again after this
_NOTICES: dict[Path, tuple[tuple[Any, ...], float, str]] = {}


def folder_notice(run: RunDir) -> str:
    """What changed in the run's data folder since its split was fixed, for a page's notice
    ("" when nothing did, or before the first start). Cheap on every page run: compared
    again only when split.json or a class folder moved, or after NOTICE_TTL_S."""
    signature = _folder_signature(run)
    cached, now = _NOTICES.get(run.path), time.monotonic()
    if cached is not None and cached[0] == signature and now - cached[1] < NOTICE_TTL_S:
        return cached[2]
    try:
        text = folder_changes(run).summary()
    except (OSError, ValueError, KeyError, TypeError, TuningError):
        text = ""  # a split that cannot be read is the jobs' to report, not a notice's
    _NOTICES[run.path] = (signature, now, text)
    return text


def _folder_signature(run: RunDir) -> tuple[Any, ...]:
    stamps: list[Any] = [file_stamp(run.file(SPLIT_FILE))]
    try:
        with os.scandir(run.config().data_dir) as entries:
            stamps += sorted((e.name, e.stat().st_mtime_ns) for e in entries if e.is_dir())
    except (OSError, TuningError):
        stamps.append(None)
    return tuple(stamps)


def check_folder(run: RunDir, use: changes.Use) -> None:
    """Refuse, in one line (DatasetError), a resume or retrain that the run's data folder, as
    edited since the split was fixed, no longer allows; nothing to check before a first
    start."""
    if run.load_split() is not None:
        usable_split(run, use)


@dataclass
class PreparedData:
    """Decoded, cached images of a run's split, ready for training. ``split``: the files
    used now; ``changes``: what the job writes down about the folder edited since the
    split was fixed (empty when it was not)."""

    split: Split
    training: TrainingData
    num_classes: int
    changes: dict[str, Any] = field(default_factory=dict)


def prepare_data(run: RunDir, full_train: bool, memory_mb: float = 2048,
                 with_test: bool = False,
                 cache_dir: Path | None = None,
                 found: changes.FolderChanges | None = None
                 ) -> tuple[PreparedData, ImageCache | None]:
    """Decode the split once; trials train on the search subset, a retrain on all of train.

    Files gone, renamed, replaced or unreadable since the split was fixed are handled as
    :mod:`tuning_core.data.changes` says (DatasetError when the job cannot go on).
    ``cache_dir``: where decoded images too large for memory go (default the run's cache
    folder; each worker of a distributed search has its own, as two writers of one
    TensorFlow cache file would clash)."""
    config: RunConfig = run.config()
    use = changes.Use.RETRAIN if full_train else changes.Use.RESUME
    listed = load_or_make_split(run)
    split, found = usable_split(run, use, found)
    record = {} if found.unchanged else found.record(listed, split, use)
    n = len(split.classes)
    items = (split.train if full_train
             else split.search_train(config.split.subset, config.split.seed))
    cache_dir = cache_dir or run.cache_dir

    def cache(files: list, name: str) -> ImageCache:
        (cache_dir / name).mkdir(parents=True, exist_ok=True)
        return ImageCache(split.root, files, n, config.image, memory_budget_mb=memory_mb,
                          cache_dir=cache_dir / name)

    training = TrainingData(cache(items, "train" if full_train else "search"),
                            cache(split.val, "val"), seed=config.split.seed)
    test = cache(split.test, "test") if with_test else None
    return PreparedData(split=split, training=training, num_classes=n, changes=record), test


@dataclass
class SearchOutcome:
    """How a search is ending: set by its body, or by the exception that ended it."""

    control: control.SearchControl
    precision: precision.Precision
    status: SearchEnd = SearchEnd.FINISHED
    message: str | None = None
    reason: str | None = None  # why it stopped, beyond the status: diskspace.REASON
    project_dir: Path | None = None  # set once a tuner exists: its checkpoints are pruned
    run_dir: Path = Path(".")  # where a full disk is measured

    def end(self, status: SearchEnd, message: str | None = None) -> None:
        """The search ends with ``status`` (a chief's verdict on its workers, say)."""
        self.status, self.message = status, message

    def record(self, error: Exception) -> None:
        """The search ends because of ``error``: a stop or spent budget, a full disk (a stop
        with reason disk full, so space freed and a resume go on), else a failure."""
        if (isinstance(error, SearchHalted) and error.reason == diskspace.REASON) \
                or diskspace.is_disk_full(error):
            self.disk_full(diskspace.as_disk_full(error, self.run_dir))
        elif isinstance(error, SearchHalted):
            self.end(SearchEnd.parse(error.reason))
        elif isinstance(error, TuningError):
            self.end(SearchEnd.FAILED, str(error))
        else:  # the thread must always log how the search ended
            self.end(SearchEnd.FAILED, failure_message(error))

    def disk_full(self, error: DiskFullError) -> None:
        """The search stops because the disk is full; the message says how full, where."""
        self.status, self.reason = SearchEnd.STOPPED, diskspace.REASON
        self.message = f"{error}; free space there and resume the run"


@contextmanager
def search_lifecycle(run: RunDir, **start_fields: object) -> Iterator[SearchOutcome]:
    """One search of ``run`` from its ``search_start`` line to its ``search_end`` line.

    The plain search and a distributed search's chief both run inside it: it registers the
    run's stop control (with the time budget; a stop asked for before the start is kept),
    logs the start (a resume, trials recovered from KerasTuner's files, the precision, and
    ``start_fields``), and at the end, however the body ended, prunes checkpoints, logs
    ``search_end`` with the status and the run's bytes, and forgets the control. It never
    raises for a search that went wrong: the exception becomes the outcome. The caller
    holds the run's lock (the job registry does).
    """
    key, config, writer = str(run.path), run.config(), run.log_writer()
    search = control.get(key) or control.register(key, config.tuner.max_minutes,
                                                  stop_file=str(run.stop_path))
    outcome = SearchOutcome(search, precision.choose(config.tuner), run_dir=run.path)
    resumed = run.reader().search_status is not None
    writer.write(LogEvent.SEARCH_START, tuner=config.tuner.tuner,
                 max_trials=config.tuner.max_trials, resumed=resumed,
                 recovered=run.reconcile(), **start_fields,
                 distribution=config.tuner.distribution, **outcome.precision.log_fields())
    try:
        yield outcome
        if search.reason == diskspace.REASON:  # a trial found the disk full; none came after
            outcome.disk_full(diskspace.full_error(run.path))
    except Exception as error:
        outcome.record(error)
    finally:
        try:
            _end(run, outcome, config)
        finally:
            control.unregister(key)


def _end(run: RunDir, outcome: SearchOutcome, config: RunConfig) -> None:
    """Prune checkpoints and log ``search_end``. On a full disk the end line may not fit
    even after pruning: the run then reads as interrupted (resumable), and no error leaves
    the search's thread."""
    try:
        if outcome.project_dir is not None:
            pruning.prune_checkpoints(outcome.project_dir, config.tuner.keep_top,
                                      config.tuner.direction)
        run.log_writer().write(
            LogEvent.SEARCH_END, status=outcome.status.value, message=outcome.message,
            bytes=pruning.folder_bytes(run.path),
            **({"reason": outcome.reason} if outcome.reason else {}))
    except OSError as error:
        if not diskspace.is_disk_full(error):
            raise


def build_hypermodel(config: RunConfig, num_classes: int):
    """The run's hypermodel: the same for the plain search, the chief and every worker."""
    from tuning_core.search.hypermodel import CNNHyperModel

    return CNNHyperModel(config.space, config.image.image_size, config.image.channels,
                         num_classes)


def run_search(run_dir: str | Path) -> SearchEnd:
    """Run (or resume) the search of ``run_dir`` in this thread until it ends; returns the
    end status (the log says why). A trial KerasTuner completed but the log missed (a kill
    at the wrong moment) is logged first, so every completed trial appears exactly once."""
    from tuning_core.search.tuners import build_tuner

    run = RunDir(run_dir)
    config = run.config()
    found = folder_changes(run)
    with search_lifecycle(run, **_change_fields(run, found)) as outcome:
        data, _ = prepare_data(run, full_train=False, found=found)
        hypermodel = build_hypermodel(config, data.num_classes)
        with precision.training_policy(outcome.precision):
            tuner = build_tuner(config.tuner, hypermodel, run)
            outcome.project_dir = tuner.project_dir
            if outcome.control.should_end():
                raise SearchHalted(outcome.control.reason or SearchEnd.STOPPED.value)
            search_with_frozen_gc(tuner, data.training, config.tuner.epochs)
    return outcome.status


def _change_fields(run: RunDir, found: changes.FolderChanges) -> dict[str, Any]:
    """What a resume's start line says about the folder edited since the split was fixed:
    the record of what it uses (the report reads it), else only what changed (the start
    then fails with the refusal)."""
    if found.unchanged:
        return {}
    listed = load_or_make_split(run)
    try:
        return {"data_changes": found.record(listed, found.usable(listed, changes.Use.RESUME),
                                             changes.Use.RESUME)}
    except DatasetError:
        return {"data_changes": {"summary": found.summary()}}


def search_with_frozen_gc(tuner, training, epochs: int) -> None:
    """``tuner.search`` with the objects alive now out of the garbage collector's sight
    (the plain search and every worker of a distributed one train through here).

    KerasTuner starts every trial with ``clear_session()`` and ``gc.collect()``: two full
    collections over the ~400,000 objects TensorFlow and Keras keep alive, 0.2 s each here
    (bench/, figure 2: trial overhead 1.2-1.3x a plain fit, about 1.05x frozen).
    """
    gc.collect()
    gc.freeze()
    try:
        tuner.search(training, epochs=epochs, verbose=0)
    finally:
        gc.unfreeze()


def failure_message(error: Exception) -> str:
    text = str(error).strip()
    if text.startswith("Number of consecutive failures"):
        first, _, rest = text.partition("\n")
        last = [line for line in rest.splitlines() if line.strip()]
        return f"{first} Last error: {last[-1].strip() if last else 'unknown'}"
    return f"{type(error).__name__}: {text}"
