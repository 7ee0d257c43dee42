"""Run one search to its end in the calling thread: the code path of the pages and the CLI.

``run_search`` never raises for a search that went wrong: it writes the outcome to the
trial log (``search_end`` with a status and a message) and returns the status, so a
background thread has nothing to lose.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

from tuning_core.core import control
from tuning_core.runs import exclusions
from tuning_core.search import precision
from tuning_core.runs import pruning
from tuning_core.data.dataset import ImageCache, Split, scan, split_files
from tuning_core.data.pipeline import TrainingData
from tuning_core.core.errors import DatasetError, TuningError
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig
from tuning_core.core.states import LogEvent, SearchEnd


def load_or_make_split(run: RunDir) -> Split:
    """The run's file split: made and saved at the first start (without the files on the
    dataset's exclusion list, which it records), read back afterwards."""
    saved = run.load_split()
    if saved is not None:
        return Split.from_dict(saved)
    config = run.config()
    summary = scan(config.data_dir, [Path(r) for r in config.data_roots] or None)
    excluded = exclusions.load(run.path.parent, summary.root)  # the dataset's, if any
    split = split_files(excluded.apply(summary), config.split)
    run.save_split({**split.to_dict(), "excluded": sorted(excluded.paths)})
    return split


def _check_files_exist(split: Split) -> None:
    missing = [p for p, _ in split.train + split.val + split.test if not (Path(split.root) / p).is_file()]
    if missing:
        raise DatasetError(
            f"{len(missing)} image(s) of this run's split are gone from {split.root}, "
            f"for example {missing[0]}; put them back to train this run again.")


@dataclass
class PreparedData:
    """Decoded, cached images of a run's split, ready for training."""

    split: Split
    training: TrainingData
    num_classes: int


def prepare_data(run: RunDir, full_train: bool, memory_mb: float = 2048,
                 with_test: bool = False,
                 cache_dir: Path | None = None) -> tuple[PreparedData, ImageCache | None]:
    """Decode the split once; trials train on the search subset, a retrain on all of train.

    ``cache_dir``: where decoded images too large for memory go (default the run's cache
    folder; each worker of a distributed search has its own, as two writers of one
    TensorFlow cache file would clash)."""
    config: RunConfig = run.config()
    split = load_or_make_split(run)
    _check_files_exist(split)
    n = len(split.classes)
    items = split.train if full_train else split.search_train(config.split.subset, config.split.seed)
    cache_dir = cache_dir or run.cache_dir

    def cache(files: list, name: str) -> ImageCache:
        (cache_dir / name).mkdir(parents=True, exist_ok=True)
        return ImageCache(split.root, files, n, config.image, memory_budget_mb=memory_mb,
                          cache_dir=cache_dir / name)

    training = TrainingData(cache(items, "train" if full_train else "search"),
                            cache(split.val, "val"), seed=config.split.seed)
    test = cache(split.test, "test") if with_test else None
    return PreparedData(split=split, training=training, num_classes=n), test


def run_search(run_dir: str | Path) -> SearchEnd:
    """Run (or resume) the search of ``run_dir`` until it ends; returns the end status.

    The caller should hold the run's lock (the job registry does). The log says why it
    ended; a trial KerasTuner completed but the log missed (a kill at the wrong moment) is
    logged first, so every completed trial appears exactly once.
    """
    from tuning_core.search.hypermodel import CNNHyperModel
    from tuning_core.search.tuners import SearchHalted, build_tuner

    run = RunDir(run_dir)
    writer = run.log_writer()
    key = str(run.path)
    config = run.config()
    search = control.get(key) or control.register(key, config.tuner.max_minutes,
                                                  stop_file=str(run.stop_path))
    status, message, tuner = SearchEnd.FINISHED, None, None
    resumed = run.reader().search_status is not None
    recovered = run.reconcile()
    chosen = precision.choose(config.tuner)
    writer.write(LogEvent.SEARCH_START, tuner=config.tuner.tuner, max_trials=config.tuner.max_trials,
                 resumed=resumed, recovered=recovered, distribution=config.tuner.distribution,
                 **chosen.log_fields())
    try:
        data, _ = prepare_data(run, full_train=False)
        hypermodel = CNNHyperModel(config.space, config.image.image_size,
                                   config.image.channels, data.num_classes)
        with precision.training_policy(chosen):
            tuner = build_tuner(config.tuner, hypermodel, run)
            if search.should_end():
                raise SearchHalted(search.reason or "stopped")
            _search_with_frozen_gc(tuner, data.training, config.tuner.epochs)
    except SearchHalted as halt:
        status = SearchEnd.parse(halt.reason)
    except TuningError as error:
        status, message = SearchEnd.FAILED, str(error)
    except Exception as error:  # the thread must always log how the search ended
        status, message = SearchEnd.FAILED, failure_message(error)
    finally:
        if tuner is not None:
            pruning.prune_checkpoints(tuner.project_dir, config.tuner.keep_top, config.tuner.direction)
        writer.write(LogEvent.SEARCH_END, status=status.value, message=message,
                     bytes=pruning.folder_bytes(run.path))
        control.unregister(key)
    return status


def _search_with_frozen_gc(tuner, training, epochs: int) -> None:
    """``tuner.search`` with the objects alive now out of the garbage collector's sight.

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
