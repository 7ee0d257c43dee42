"""Say when a search learns nothing: completed trials at chance, and the likely causes.

A trial is at chance when its best validation accuracy is at most 1.5 / classes and,
where the log has a validation loss, its lowest one is at least 0.9 * ln(classes) (the
loss of a uniform guess). Both must hold where both exist: on two classes, 1.5 / classes
alone would call 75% accuracy chance. The report appears once ``MIN_TRIALS`` trials
completed and the best of them is at chance (so all are), and lists the causes that fit
*this* run, each with the setting to change. Pages show it; the command line prints it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tuning_core.runs.trialtable import scored

MIN_TRIALS = 3
ACCURACY_FACTOR = 1.5  # at chance: accuracy <= 1.5 / classes
LOSS_FACTOR = 0.9  # ... and loss >= 0.9 * ln(classes)
FEW_IMAGES = 20  # per class
SMALL_IMAGE, BIG_ORIGINAL = 64, 128  # pixels
HIGH_LR, HIGH_FINE_TUNE_LR = 1e-2, 1e-3
FEW_EPOCHS = 3


@dataclass(frozen=True)
class Cause:
    """One likely reason, and the setting that addresses it."""

    reason: str
    setting: str


@dataclass(frozen=True)
class ChanceReport:
    """The evidence that a search learns nothing, and the causes that fit the run."""

    completed: int
    num_classes: int
    best_accuracy: float | None
    best_loss: float | None
    causes: list[Cause] = field(default_factory=list)

    @property
    def chance_accuracy(self) -> float:
        """1 / classes: a uniform guess."""
        return 1 / self.num_classes

    @property
    def chance_loss(self) -> float:
        """ln(classes): the cross-entropy of a uniform guess."""
        return math.log(self.num_classes)

    def headline(self) -> str:
        """One sentence: how many trials, and how close to chance the best one is."""
        parts = []
        if self.best_accuracy is not None:
            parts.append(f"best val_accuracy {self.best_accuracy:.3f} "
                         f"(chance {self.chance_accuracy:.3f})")
        if self.best_loss is not None:
            parts.append(f"best val_loss {self.best_loss:.3f} "
                         f"(a uniform guess: {self.chance_loss:.3f})")
        return (f"This search learns nothing so far: all {self.completed} completed trials "
                f"sit at chance for {self.num_classes} classes; {', '.join(parts)}.")

    def lines(self) -> list[str]:
        """The headline, then one line per likely cause with its setting."""
        return [self.headline(), "Likely causes for this run:",
                *(f"- {c.reason} → {c.setting}" for c in self.causes)]

    def describe(self) -> str:
        """The report as text (Markdown list), for a page or a terminal."""
        return "\n".join(self.lines())


def _completed(trials: pd.DataFrame) -> list[str]:
    """The ids of the trials that compete for best (completed or stopped, with a score)."""
    return [str(t) for t in scored(trials)["trial_id"]]


def _best(epochs: pd.DataFrame, metric: str, ids: list[str], use_max: bool) -> float | None:
    if epochs.empty or metric not in epochs:
        return None
    values = pd.to_numeric(epochs.loc[epochs["trial_id"].isin(ids), metric], errors="coerce")
    values = values[values.map(math.isfinite)]
    if values.empty:
        return None
    return float(values.max() if use_max else values.min())


def _at_chance(accuracy: float | None, loss: float | None, classes: int) -> bool:
    if accuracy is None and loss is None:
        return False
    low_accuracy = accuracy is None or accuracy <= ACCURACY_FACTOR / classes
    high_loss = loss is None or loss >= LOSS_FACTOR * math.log(classes)
    return low_accuracy and high_loss


def chance_report(trials: pd.DataFrame, epochs: pd.DataFrame, num_classes: int, config: Any,
                  images_per_class: int, original_side: float | None = None
                  ) -> ChanceReport | None:
    """A report when ``MIN_TRIALS`` or more trials completed and the best is at chance.

    ``trials`` and ``epochs`` are a trial log's frames (TrialLogReader), ``config`` the
    run's RunConfig, ``images_per_class`` the fewest training images of any class, and
    ``original_side`` the median shorter side of the original images (None: unknown).
    None while fewer trials completed, or when some trial learned.
    """
    ids = _completed(trials)
    if len(ids) < MIN_TRIALS or num_classes < 2:
        return None
    accuracy = _best(epochs, "val_accuracy", ids, use_max=True)
    loss = _best(epochs, "val_loss", ids, use_max=False)
    if not _at_chance(accuracy, loss, num_classes):
        return None
    causes = likely_causes(epochs.loc[epochs["trial_id"].isin(ids)], config,
                           images_per_class, original_side)
    return ChanceReport(len(ids), num_classes, accuracy, loss, causes)


def _per_trial(epochs: pd.DataFrame, metric: str) -> dict[str, list[float]]:
    if epochs.empty or metric not in epochs:
        return {}
    ordered = epochs.sort_values(["trial_id", "execution", "epoch"], kind="stable")
    return {str(t): pd.to_numeric(g[metric], errors="coerce").tolist()
            for t, g in ordered.groupby("trial_id")}


def _diverged(losses: list[float]) -> bool:
    """The training loss became NaN or infinite, or ended no lower than it began."""
    if any(not math.isfinite(v) for v in losses):
        return True
    return len(losses) >= 2 and losses[-1] >= losses[0]


def _data_causes(config: Any, images_per_class: int, original_side: float | None) -> list[Cause]:
    causes, backbone = [], config.space.backbone
    if images_per_class < FEW_IMAGES:
        setting = ("Data: more images per class" if backbone.active else
                   "Search space → Backbone: a pretrained backbone (preset 'pretrained'), "
                   "or more images per class")
        causes.append(Cause(f"only {images_per_class} training images in the smallest class "
                            f"(fewer than {FEW_IMAGES}): too few to learn features from "
                            "scratch", setting))
    size = config.image.image_size
    if size < SMALL_IMAGE and original_side is not None and original_side >= BIG_ORIGINAL:
        causes.append(Cause(f"images are shrunk to {size}x{size} px from originals of about "
                            f"{original_side:.0f} px: their details are lost",
                            f"Search → image size: {SMALL_IMAGE} or more"))
    return causes


def _rate_causes(config: Any) -> list[Cause]:
    causes, t, b = [], config.space.training, config.space.backbone
    if "none" in b.choices and t.learning_rate_max > HIGH_LR:
        causes.append(Cause(f"the learning-rate range reaches {t.learning_rate_max:g} (above "
                            f"{HIGH_LR:g}): steps that large jump past what the model learns",
                            f"Search space → Training: learning rate at most {HIGH_LR:g}"))
    if b.active and max(b.trainable_top) > 0 and b.learning_rate_max > HIGH_FINE_TUNE_LR:
        causes.append(Cause(f"the fine-tune learning rate reaches {b.learning_rate_max:g}: it "
                            "overwrites the pretrained weights",
                            f"Search space → Backbone: fine-tune rate at most "
                            f"{HIGH_FINE_TUNE_LR:g}"))
    return causes


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _training_causes(epochs: pd.DataFrame, config: Any) -> list[Cause]:
    causes, t = [], config.space.training
    counts = [len(v) for v in _per_trial(epochs, "val_loss").values()] or [0]
    if max(counts) <= FEW_EPOCHS or config.tuner.epochs <= FEW_EPOCHS:
        causes.append(Cause(f"trials trained at most {_epochs(max(counts))} so far (epochs per "
                            f"trial: {config.tuner.epochs})",
                            "Search → epochs per trial: 10 or more"))
    losses = _per_trial(epochs, "loss")
    if losses and all(_diverged(v) for v in losses.values()):
        causes.append(Cause("the training loss did not fall in any trial (flat, rising or "
                            "NaN): the steps are too large",
                            f"Search space → Training: a lower learning-rate range (now "
                            f"{t.learning_rate_min:g} to {t.learning_rate_max:g})"))
    best_train = _best(epochs, "accuracy", list(losses), use_max=True)
    if best_train is not None and best_train >= 0.9:
        causes.append(Cause(f"training accuracy reached {best_train:.2f} while validation "
                            "stayed at chance: the model memorizes the training images",
                            "more images per class, augmentation (Search space → Training), "
                            "or a pretrained backbone"))
    return causes


def likely_causes(epochs: pd.DataFrame, config: Any, images_per_class: int,
                  original_side: float | None = None) -> list[Cause]:
    """The causes that fit this run's settings and logs; a generic one when none does."""
    causes = (_data_causes(config, images_per_class, original_side) + _rate_causes(config)
              + _training_causes(epochs, config))
    return causes or [Cause("none of the usual causes fits this run",
                            "Data: check that each class folder holds what its name says, "
                            "and that the classes differ at this image size")]


def images_per_class(split: dict[str, Any], subset: float = 1.0) -> int:
    """The fewest search-training images of any class in a saved split (RunDir.load_split)."""
    counts = Counter(int(label) for _, label in split["train"])
    fewest = min(counts.get(i, 0) for i in range(len(split["classes"])))
    return fewest if subset >= 1 else max(1, round(fewest * subset))


def original_side(split: dict[str, Any], sample: int = 16) -> float | None:
    """The median shorter side of up to ``sample`` training originals; None if unreadable."""
    from PIL import Image

    sides = []
    for path, _ in split["train"][:sample]:
        try:
            with Image.open(Path(split["root"]) / path) as image:
                sides.append(min(image.size))
        except OSError:
            continue
    return float(pd.Series(sides).median()) if sides else None


def run_chance_report(run: Any) -> ChanceReport | None:
    """:func:`chance_report` for a run folder (a RunDir), from its log, config and split."""
    split = run.load_split()
    if split is None:
        return None
    reader, config = run.reader(), run.config()
    fewest = images_per_class(split, config.split.subset)
    trials, epochs, classes = reader.trials(), reader.epochs(), len(split["classes"])
    report = chance_report(trials, epochs, classes, config, fewest)
    if report is None or config.image.image_size >= SMALL_IMAGE:
        return report
    # the originals are opened only for a report on small images, not on every poll
    return chance_report(trials, epochs, classes, config, fewest, original_side(split))
