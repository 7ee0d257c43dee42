"""One fixed model for the overhead figures (2 and 3), trained three ways on the same cache.

The space fixes every choice to the default preset's largest model; only the learning
rate spans a sliver (1e-3 to 1.001e-3), so each trial is new to the oracle yet trains the
same network for the same cost. Patience 0: every trial runs all its epochs.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness.common import digits_dir
from tuning_core.data.dataset import ImageConfig, SplitConfig, scan
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.space.schema import (
    ConvBlockSpace,
    DenseBlockSpace,
    DropoutRange,
    IntRange,
    SearchSpace,
    Toggle,
    TrainingSpace,
)

IMAGE = ImageConfig(32, "grayscale")
LEARNING_RATE = (1e-3, 1.001e-3)


def fixed_space() -> SearchSpace:
    """The default preset's largest model: two conv blocks of 32 filters, one dense of 64."""
    block = ConvBlockSpace([32], [3], ["relu"], Toggle.OFF, DropoutRange(0.0, 0.0), ["max"])
    dense = DenseBlockSpace([64], ["relu"], DropoutRange(0.0, 0.0))
    training = TrainingSpace(["adam"], *LEARNING_RATE, batch_sizes=[32])
    return SearchSpace(IntRange(2, 2), [block, block], IntRange(1, 1), [dense], training)


def fixed_config(trials: int, epochs: int, subset: float = 1.0) -> RunConfig:
    """A random search of ``trials`` identical trials of ``epochs`` epochs on the digits."""
    tuner = TunerSettings(tuner="random", max_trials=trials, epochs=epochs, patience=0)
    return RunConfig(data_dir=scan(digits_dir()).root, space=fixed_space(),
                     split=SplitConfig(subset=subset), image=IMAGE, tuner=tuner, name="fixed")


@dataclass
class Prepared:
    """The decoded data and hypermodel that a plain workflow would use."""

    training: Any  # TrainingData
    hypermodel: Any  # CNNHyperModel


def prepare(config: RunConfig, runs_dir: Path) -> Prepared:
    """Decode the split of a run made for ``config`` under ``runs_dir`` once (the same cache a
    search uses); the run folder is RunDir's to lay out, as a search's is."""
    from tuning_core.runs.rundir import RunDir
    from tuning_core.search.hypermodel import CNNHyperModel
    from tuning_core.search.lifecycle import prepare_data

    data, _ = prepare_data(RunDir.create(runs_dir, config), full_train=False)
    model = CNNHyperModel(config.space, IMAGE.image_size, IMAGE.channels, data.num_classes)
    return Prepared(data.training, model)


def plain_fit(prepared: Prepared, epochs: int) -> float:
    """Seconds to build, compile and ``model.fit`` the fixed model once (no tuner, no hooks)."""
    import keras_tuner as kt

    started = time.perf_counter()
    hp = kt.HyperParameters()
    model = prepared.hypermodel.build(hp)
    prepared.hypermodel.fit(hp, model, prepared.training, epochs=epochs, verbose=0)
    return time.perf_counter() - started


def plain_search(prepared: Prepared, directory: Path, trials: int, epochs: int) -> float:
    """Seconds of a bare KerasTuner RandomSearch: no trial log, no registry, no pruning."""
    import keras_tuner as kt

    tuner = kt.RandomSearch(prepared.hypermodel, objective="val_accuracy", max_trials=trials,
                            seed=0, directory=str(directory), project_name="tuner",
                            overwrite=True)
    started = time.perf_counter()
    tuner.search(prepared.training, epochs=epochs, verbose=0)
    return time.perf_counter() - started


def job_search(runs_dir: Path, trials: int, epochs: int) -> tuple[float, Path]:
    """Seconds of the same search through the job registry (log, callbacks, pruning).

    Timed from the first trial's start, so both sides leave out the one-off decode.
    """
    from tuning_core.jobs.registry import JobRegistry
    from tuning_core.runs.rundir import RunDir

    registry = JobRegistry(runs_dir)
    run_dir = registry.start_search(fixed_config(trials, epochs))
    registry.wait()
    events = RunDir(run_dir).reader().events()
    first = next(e["time"] for e in events if e["event"] == "trial_start")
    last = next(e["time"] for e in reversed(events) if e["event"] == "search_end")
    return last - first, run_dir


def trial_cycle_seconds(run_dir: Path) -> list[float]:
    """Seconds between consecutive trial ends: everything one trial costs in the runner."""
    from tuning_core.runs.rundir import RunDir

    ends = [e["time"] for e in RunDir(run_dir).reader().events() if e["event"] == "trial_end"]
    return [b - a for a, b in itertools.pairwise(ends)]
