"""An honest margin on every accuracy: how sure a score on N test images can be.

An accuracy measured on a few dozen images is a coin counted a few dozen times: 0.912 on 91
images could as well be 0.84 or 0.96. Every accuracy the Best page, the report, the CLI and
the benchmark show comes with its Wilson score interval (scipy's ``binomtest``: well kept,
and right near 0 and 1 where the normal approximation is not), and two runs are told apart
only when the interval of their difference (Newcombe's hybrid score method, built from the two
Wilson intervals) leaves out zero.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

CONFIDENCE = 0.95


def wilson(correct: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of ``correct`` successes in ``total`` tries ((0, 1) for none)."""
    if total <= 0:
        return 0.0, 1.0
    from scipy.stats import binomtest

    interval = binomtest(int(correct), int(total)).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


@dataclass(frozen=True)
class Accuracy:
    """An accuracy with its sample: ``correct`` of ``total`` images, and its interval."""

    correct: int
    total: int
    confidence: float = CONFIDENCE

    @classmethod
    def of(cls, value: float, total: int, confidence: float = CONFIDENCE) -> Accuracy:
        """From a rate and its number of images (the count is rounded back)."""
        return cls(round(value * total), int(total), confidence)

    @property
    def value(self) -> float:
        return self.correct / self.total if self.total else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.correct, self.total, self.confidence)

    @property
    def half_width(self) -> float:
        """The larger distance from the value to an end of its interval."""
        low, high = self.interval
        return max(self.value - low, high - self.value)

    def text(self, digits: int = 3) -> str:
        """"0.912 (95% interval 0.836-0.955, 91 images)"."""
        low, high = self.interval
        return (f"{self.value:.{digits}f} ({self.confidence:.0%} interval "
                f"{low:.{digits}f}-{high:.{digits}f}, {self.total} images)")

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {**asdict(self), "value": self.value, "low": low, "high": high}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Accuracy:
        return cls(int(data["correct"]), int(data["total"]),
                   float(data.get("confidence", CONFIDENCE)))


@dataclass(frozen=True)
class Difference:
    """``a`` minus ``b``, with the interval of the difference (Newcombe's hybrid score)."""

    a: Accuracy
    b: Accuracy

    @property
    def value(self) -> float:
        return self.a.value - self.b.value

    @property
    def interval(self) -> tuple[float, float]:
        (la, ua), (lb, ub) = self.a.interval, self.b.interval
        pa, pb, d = self.a.value, self.b.value, self.value
        return (d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2),
                d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2))

    @property
    def within_noise(self) -> bool:
        """True when the difference could be chance: its interval holds zero."""
        low, high = self.interval
        return low <= 0.0 <= high

    def describe(self, names: tuple[str, str] = ("the first", "the second")) -> str:
        """The difference in words, saying when it is within the margin."""
        low, high = self.interval
        span = f"{self.a.confidence:.0%} interval of the difference {low:+.3f} to {high:+.3f}"
        if self.within_noise:
            return (f"{names[0]} and {names[1]} differ by {self.value:+.3f}, within the margin "
                    f"({span}): on these test images they cannot be told apart.")
        better = names[0] if self.value > 0 else names[1]
        return f"{better} is more accurate by {abs(self.value):.3f} ({span})."


def evaluation_accuracy(evaluation: dict[str, Any] | None) -> Accuracy | None:
    """The test accuracy of a saved evaluation (``best/evaluation.json``) with its sample."""
    if not evaluation or evaluation.get("test_accuracy") is None:
        return None
    total = evaluation.get("test_images") or sum(
        c.get("support", 0) for c in evaluation.get("per_class", []))
    return Accuracy.of(float(evaluation["test_accuracy"]), int(total)) if total else None


def per_class_table(per_class: list[dict[str, Any]]) -> pd.DataFrame:
    """The per-class metrics with each recall's 95% interval (from the class's test images):
    a rare class's recall rests on a few images, and the table says how few."""
    table = pd.DataFrame(per_class)
    if not table.empty:
        table["recall 95% interval"] = [
            "–" if not n else "{:.2f}–{:.2f}".format(*Accuracy.of(r, n).interval)
            for r, n in zip(table["recall"], table["support"], strict=True)]
    return table


def weakest_class_text(table: pd.DataFrame) -> str | None:
    """Which class the model finds least often, against the median class: what imbalance or
    a hard class costs, in one line (None with fewer than two classes)."""
    if len(table) < 2:
        return None
    worst = table.loc[table["recall"].idxmin()]
    median = float(table["recall"].median())
    if worst["recall"] >= median:
        return None
    share = worst["support"] / max(1, table["support"].sum())
    return (f"Lowest recall: {worst['class']} ({worst['recall']:.2f} of {int(worst['support'])} "
            f"test images, {share:.0%} of the test set) against {median:.2f} for the median "
            f"class.")
