"""Fit a search to a time budget: the image size and trial count from the data and the minutes.

"Best model in about N minutes": :func:`plan_search` reads the dataset's statistics (image
count, median side, colour, classes), the search space and the tuner settings, and picks the
largest image size (up to the data's own, at most 128 px) at which at least ``MIN_TRIALS``
trials and the retrain fit in the budget, then as many trials as fit at that size. The search
also gets ``max_minutes`` = the budget less the retrain's share, so it ends on time even when
the estimate is wrong; :func:`pace` compares the estimate with the first trials' measured
speed while the search runs, so the Search page and the CLI keep the promise honest.

The cost model is measured, not guessed: ``REFERENCE_SECONDS`` are benchmark figure 7 (seconds
per epoch per 1,000 training images of the default preset's largest model by image size, on
the 2-core machine the benchmark ran on); another space scales them by its multiply-adds per
image relative to that model (:func:`model_macs`), with a floor for the per-batch overheads
that do not shrink with the model. A faster machine is caught by :func:`pace` within a trial.
No TensorFlow here: the pages import this to draw the estimate.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tuning_core.core.errors import SettingsError
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.runs.trialtable import ended_count
from tuning_core.space.backbones import NONE
from tuning_core.space.schema import FLATTEN_MAX_FEATURES, SearchSpace

# Figure 7 (bench/results.md): s per epoch per 1,000 training images, reference model. Two
# whole runs measured 0.36-0.52 s at 32 px and 9.2-19.8 s at 256 px as the machine's load
# varied; these are the slower run's: a plan that ends early beats one that runs out.
REFERENCE_SECONDS = {32: 0.52, 64: 1.02, 128: 8.81, 256: 19.77}
SIZES = (32, 48, 64, 96, 128)  # from-scratch CNNs gain little above 128 px on a CPU
MIN_TRIALS = 10  # fewer trials than this is not a search; a smaller image size is chosen
RETRAIN_EPOCHS = 15  # expected epochs of the retrain (at most 30, with early stopping)
TRIAL_OVERHEAD_S = 1.5  # model build and graph tracing per trial (figure 2: 4.1 vs 3.8 s)
START_OVERHEAD_S = 15.0  # TensorFlow import, scan and the decoded-image cache
MAC_FLOOR = 0.5  # a model this much cheaper than the reference still pays its overheads
MAX_PLANNED_TRIALS = 500
# Multiply-adds per 224 px image, millions (Keras applications' published figures).
BACKBONE_MMACS_224 = {"MobileNetV3Small": 56, "MobileNetV3Large": 217, "EfficientNetB0": 390,
                      "EfficientNetV2B0": 720, "ResNet50": 4100}
FROZEN_SHARE = 1 / 3  # a frozen backbone runs forward only: about a third of a training step


def reference_seconds(size: int) -> float:
    """Figure 7's seconds per epoch per 1,000 images at ``size``: piecewise log-log between
    the measured sizes, the end segments extended beyond them."""
    points = sorted(REFERENCE_SECONDS.items())
    inner = [k for k in range(1, len(points) - 1) if points[k][0] < size]
    (s0, t0), (s1, t1) = points[len(inner)], points[len(inner) + 1]
    return t0 * (size / s0) ** (math.log(t1 / t0) / math.log(s1 / s0))


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def _conv_macs(space: SearchSpace, size: int, channels: int,
               blocks: int) -> tuple[float, int, int]:
    """Multiply-adds of the first ``blocks`` conv blocks at their median choices, and the
    final feature map's side and depth."""
    macs, side, depth = 0.0, size, channels
    for block in space.conv[:blocks]:
        filters = _median([float(f) for f in block.filters])
        kernel = _median([float(k) for k in block.kernel_sizes])
        macs += side * side * kernel * kernel * depth * filters
        depth = int(filters)
        if any(p != "none" for p in block.pooling) and side // 2 >= 2:
            side //= 2
    return macs, side, depth


def _head_macs(space: SearchSpace, side: int, depth: int, classes: int) -> float:
    """The dense head after Flatten (small maps) or global pooling (the hypermodel's rule)."""
    features = side * side * depth
    width = features if features <= FLATTEN_MAX_FEATURES else depth
    macs = 0.0
    counts = space.dense_blocks.values()
    for n in counts:
        w, total = width, 0.0
        for block in space.dense[:n]:
            units = _median([float(u) for u in block.units])
            total += w * units
            w = int(units)
        macs += total + w * classes
    return macs / len(counts)


def model_macs(space: SearchSpace, size: int, channels: int, classes: int) -> float:
    """Expected multiply-adds per image of a trial's model (uniform over the block counts
    and the backbone choices, median layer choices), for one forward pass."""
    backbone = space.backbone
    parts: list[float] = []
    for choice in backbone.choices:
        if choice == NONE:
            convs = []
            for n in space.conv_blocks.values():
                macs, side, depth = _conv_macs(space, size, channels, n)
                convs.append(macs + _head_macs(space, side, depth, classes))
            parts.append(sum(convs) / len(convs))
        else:
            mmacs = BACKBONE_MMACS_224.get(choice, max(BACKBONE_MMACS_224.values()))
            frozen = all(k == 0 for k in backbone.trainable_top)
            scale = FROZEN_SHARE if frozen else 1.0
            parts.append(mmacs * 1e6 * (size / 224) ** 2 * scale)
    return sum(parts) / len(parts)


def reference_macs(size: int) -> float:
    """Multiply-adds per image of figure 7's model (2 conv blocks of 32, dense 64, grayscale)."""
    from tuning_core.space.presets import get_preset

    space = get_preset("small")
    space = replace(space, conv_blocks=replace(space.conv_blocks, min=2, max=2),
                    dense_blocks=replace(space.dense_blocks, min=1, max=1),
                    conv=[replace(b, filters=[32]) for b in space.conv])
    return model_macs(space, size, 1, 10)


def epoch_seconds(space: SearchSpace, size: int, channels: int, classes: int,
                  images: int) -> float:
    """Estimated seconds of one training epoch over ``images`` images."""
    ratio = model_macs(space, size, channels, classes) / reference_macs(size)
    return reference_seconds(size) * max(MAC_FLOOR, ratio) * images / 1000


def trial_epochs(settings: TunerSettings) -> Iterator[int]:
    """Epochs each trial trains, in the order the tuner runs them (at most; early stopping
    may end one sooner). Hyperband: KerasTuner's schedule, a later round training only the
    epochs beyond its earlier round's (it resumes from that checkpoint); finite."""
    if settings.tuner != "hyperband":
        while True:
            yield settings.epochs * settings.executions_per_trial
    top, factor = settings.epochs, settings.hyperband_factor
    brackets, epochs = 0, float(top)
    while epochs >= 1:
        epochs, brackets = epochs / factor, brackets + 1
    end_size = math.ceil(1 + math.log(top, factor))
    for bracket in reversed(range(brackets)):
        before = 0
        for rnd in range(bracket + 1):
            size = math.ceil(end_size / (bracket + 1) * factor ** (bracket - rnd))
            epochs_now = math.ceil(top / factor ** (bracket - rnd))
            for _ in range(size):
                yield max(1, epochs_now - before) * settings.executions_per_trial
            before = epochs_now


@dataclass
class SearchPlan:
    """What fits in a time budget, as estimated before launch (kept in ``run.json``)."""

    minutes: float
    image_size: int
    native_size: int
    trials: int
    epochs: int  # epochs of all planned trials together
    epoch_seconds: float  # one epoch of one trial at the planned size
    search_seconds: float
    retrain_seconds: float
    train_images: int
    notes: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return self.search_seconds + self.retrain_seconds

    @property
    def search_minutes(self) -> float:
        """The search's own budget (``max_minutes``): the total less the retrain's share."""
        return max(0.5, (self.minutes * 60 - self.retrain_seconds) / 60)

    def describe(self) -> str:
        """One sentence for people: size, trials, the split of the minutes."""
        text = (f"In about {self.minutes:g} min: {self.image_size} px images, {self.trials} "
                f"trials (~{_short(self.epoch_seconds)} per epoch, {self.epochs} epochs in all: "
                f"~{_short(self.search_seconds)} of search), then ~{_short(self.retrain_seconds)}"
                f" to retrain the best.")
        return " ".join([text, *self.notes])

    def apply(self, config: RunConfig) -> RunConfig:
        """``config`` with the planned image size, trial count and search budget, and the
        plan itself recorded for the pace check."""
        image = replace(config.image, image_size=self.image_size)
        tuner = replace(config.tuner, max_trials=self.trials,
                        max_minutes=round(self.search_minutes, 2))
        return replace(config, image=image, tuner=tuner, plan=self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SearchPlan | None:
        if not data:
            return None
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError:
            return None  # a plan from another version: no pace check rather than an error


def _short(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class DataShape:
    """What the planner needs of a dataset (from
    :class:`~tuning_core.data.dataset.DatasetSummary`)."""

    images: int
    native_size: int  # the median image's shorter side
    classes: int
    channels: int

    @classmethod
    def of(cls, summary: Any, color_mode: str) -> DataShape:
        stats = summary.size_stats
        side = int(min(stats.median_width, stats.median_height))
        return cls(summary.num_images, side, len(summary.classes),
                   1 if color_mode == "grayscale" else 3)


def _fit(shape: DataShape, config: RunConfig, size: int, budget_s: float) -> SearchPlan:
    split = config.split
    train = max(1, round(shape.images * split.train * split.subset))
    val = max(1, round(shape.images * split.val))
    # validation is forward only: about a third of a training step per image
    per_epoch = epoch_seconds(config.space, size, shape.channels, shape.classes,
                              train + val // 3)
    full_train = max(1, round(shape.images * (split.train + split.val)))
    retrain = RETRAIN_EPOCHS * per_epoch * full_train / max(1, train) + START_OVERHEAD_S
    search_budget = budget_s - retrain - START_OVERHEAD_S
    trials = epochs = 0
    spent = 0.0
    for n in trial_epochs(config.tuner):
        cost = n * per_epoch + TRIAL_OVERHEAD_S
        if spent + cost > search_budget or trials >= MAX_PLANNED_TRIALS:
            break
        trials, epochs, spent = trials + 1, epochs + n, spent + cost
    return SearchPlan(budget_s / 60, size, shape.native_size, trials, epochs, per_epoch,
                      spent + START_OVERHEAD_S, retrain, train)


def plan_search(shape: DataShape, config: RunConfig, minutes: float,
                image_size: int | None = None) -> SearchPlan:
    """The largest image size (up to the data's own) where ``MIN_TRIALS`` trials and the
    retrain fit in ``minutes``, and as many trials as fit at that size.

    Sizes larger than the data's are never chosen (upscaling adds cost, not detail); the
    smallest size is taken, with a note, when even it does not fit ``MIN_TRIALS`` trials.
    ``image_size``: the user fixed it; only the trial count is fitted. SettingsError for a
    budget that is not a positive number of minutes.
    """
    if not isinstance(minutes, (int, float)) or isinstance(minutes, bool) or not minutes > 0:
        raise SettingsError(f"The time budget must be a positive number of minutes; "
                            f"got {minutes!r}.")
    budget_s = float(minutes) * 60
    smallest = min(SIZES)
    sizes = [s for s in SIZES if s <= max(smallest, shape.native_size)]
    if image_size is not None:
        sizes = [int(image_size)]
    minimum = max([b.min_size for b in _backbones(config.space)], default=smallest)
    sizes = [s for s in sizes if s >= minimum] or [max(minimum, smallest)]
    plans = [_fit(shape, config, size, budget_s) for size in sorted(sizes, reverse=True)]
    enough = [p for p in plans if p.trials >= MIN_TRIALS]
    plan = enough[0] if enough else plans[-1]
    if not enough:
        plan.notes.append(f"The budget is tight: only {plan.trials} trial(s) fit even at "
                          f"{plan.image_size} px; more minutes or a smaller space would help.")
    elif plan.image_size < max(sizes) and image_size is None:
        plan.notes.append(f"{max(sizes)} px would fit only "
                          f"{plans[0].trials} trials, so {plan.image_size} px it is.")
    if config.tuner.tuner == "hyperband" and plan.trials == _schedule_length(config.tuner):
        plan.notes.append("Hyperband's whole schedule fits; the search may end early.")
    return plan


def _schedule_length(settings: TunerSettings) -> int:
    return sum(1 for _ in trial_epochs(settings))


def _backbones(space: SearchSpace) -> list[Any]:
    from tuning_core.space.backbones import BACKBONES

    return [BACKBONES[n] for n in space.backbone.names if n in BACKBONES]


@dataclass(frozen=True)
class Pace:
    """The plan against what the run's first trials measured."""

    planned_epoch_seconds: float
    measured_epoch_seconds: float
    trials_done: int
    planned_trials: int
    expected_trials: int  # how many trials fit at the measured pace
    budget_left_s: float

    @property
    def ratio(self) -> float:
        """Measured / planned seconds per epoch (1.0: the estimate held)."""
        return self.measured_epoch_seconds / max(1e-9, self.planned_epoch_seconds)

    def describe(self) -> str:
        """E.g. "Epochs take 1.3 s, 1.4x the estimate: about 18 of the 25 planned trials
        fit in the 12 min left." """
        verdict = ("as estimated" if 0.8 <= self.ratio <= 1.25 else
                   f"{self.ratio:.1f}x the estimate")
        text = f"Epochs take {_short(self.measured_epoch_seconds)}, {verdict}"
        if self.budget_left_s <= 0:
            return f"{text}; the budget is spent, so the search stops at this trial."
        fit = ("all the planned trials should fit" if self.expected_trials >= self.planned_trials
               else f"about {self.expected_trials} of the {self.planned_trials} planned trials "
                    f"fit")
        return f"{text}: {fit} in the {_short(self.budget_left_s)} left."


def pace(plan: SearchPlan, settings: TunerSettings, epoch_seconds_seen: list[float],
         trials_done: int, elapsed_s: float) -> Pace | None:
    """The measured pace from the epochs so far (None before the second epoch ends).

    The first epoch of each trial traces the graph; with two or more epochs measured, the
    median is the steady speed.
    """
    if len(epoch_seconds_seen) < 2:
        return None
    measured = float(statistics.median(epoch_seconds_seen))
    left = plan.search_minutes * 60 - elapsed_s
    expected, spent = trials_done, 0.0
    schedule = trial_epochs(settings)
    for _ in range(trials_done):
        next(schedule, None)
    for n in schedule:
        if expected >= plan.trials:
            break
        spent += n * measured + TRIAL_OVERHEAD_S
        if spent > left:
            break
        expected += 1
    return Pace(plan.epoch_seconds, measured, trials_done, plan.trials, expected, left)


def plan_for(config: RunConfig, minutes: float, summary: Any = None,
             image_size: int | None = None) -> SearchPlan:
    """The plan for ``config``'s data folder (scanned unless ``summary`` is given)."""
    if summary is None:
        from tuning_core.data.dataset import scan

        summary = scan(config.data_dir, roots=[Path(r) for r in config.data_roots] or None)
    return plan_search(DataShape.of(summary, config.image.color_mode), config, minutes,
                       image_size)


def run_pace(run: Any, now: float | None = None) -> Pace | None:
    """The pace of a run's latest search against its plan (None without a plan, or before
    two epochs of this search have ended). ``run``: a :class:`~tuning_core.runs.rundir.RunDir`."""
    plan = SearchPlan.from_dict(run.config().plan)
    reader = run.reader()
    start = reader.last_start
    if plan is None or start is None:
        return None
    epochs, trials = reader.epochs(), reader.trials()
    since = float(start.get("time") or 0.0)
    recent = epochs[epochs["time"] >= since] if not epochs.empty else epochs
    seconds = _steady_epochs(recent)
    done = ended_count(trials)
    return pace(plan, run.config().tuner, seconds, done, (now or time.time()) - since)


def _steady_epochs(epochs: Any) -> list[float]:
    """Epoch seconds without each trial's first epoch (graph tracing) where others exist."""
    if epochs.empty:
        return []
    first = epochs.groupby(["trial_id", "execution"], dropna=False)["epoch"].transform("min")
    steady = epochs[epochs["epoch"] != first]["seconds"].dropna()
    chosen = steady if len(steady) >= 2 else epochs["seconds"].dropna()
    return [float(x) for x in chosen]
