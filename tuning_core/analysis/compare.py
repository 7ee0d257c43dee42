"""Two or more runs side by side: the settings that differ, best scores, and chart data.

Runs are compared on the first run's objective. A run that optimised another objective
(``val_accuracy`` against ``val_loss``) keeps its own best score in the table, marked not
comparable, and is left out of the objective-history chart: a loss and an accuracy never
share an axis. Its best trial (by its own objective) still appears on the learning-curve
chart, because every trial logs both validation metrics and that chart draws the first
run's metric for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tuning_core.analysis.margin import Accuracy, Difference, evaluation_accuracy
from tuning_core.core.errors import RunError
from tuning_core.runs.ranking import ranked_frame
from tuning_core.runs.rundir import EVALUATION_FILE, RunDir

SECTIONS = ("data_dir", "tuner", "image", "split", "space")  # what run.json says about a search


@dataclass(frozen=True)
class SettingDiff:
    """One setting that differs, as a dotted key ("tuner.max_trials") and a value per run
    (None where a run has no such key, e.g. a conv block the other run lacks)."""

    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class RunSeries:
    """One run's side of a comparison: its best score and what the two charts draw of it."""

    run: str  # folder name
    label: str  # display name (with the folder when two runs share a name)
    objective: str
    direction: str
    comparable: bool  # False when its objective is not the comparison's
    best_score: float | None
    best_number: int | None  # the best trial's number, as the Monitor shows it
    trial_numbers: tuple[int, ...] = ()  # competing trials, in order
    best_so_far: tuple[float, ...] = ()
    curve_epochs: tuple[int, ...] = ()  # 1-based epochs of the best trial
    curve_values: tuple[float, ...] = ()  # the comparison's metric at each of those epochs
    test: Accuracy | None = None  # the retrained best model's test accuracy, when there is one


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare_runs` found: runs in the order given, the first one the reference."""

    runs: tuple[RunSeries, ...]
    differing: tuple[SettingDiff, ...]
    same_count: int  # settings equal in every run
    objective: str  # the first run's objective: the charts' metric

    @property
    def mixed_objectives(self) -> bool:
        """True when some run optimised another objective than the first run."""
        return any(not r.comparable for r in self.runs)

    def test_differences(self) -> list[tuple[RunSeries, RunSeries, Difference]]:
        """Each other run's test accuracy against the first run that has one, with the
        margin of the difference: a gap within it is not a real difference on these images."""
        tested = [(r, r.test) for r in self.runs if r.test is not None]
        if len(tested) < 2:
            return []
        reference, reference_test = tested[0]
        return [(r, reference, Difference(test, reference_test)) for r, test in tested[1:]]

    def settings_rows(self) -> list[dict[str, str]]:
        """The differing settings as table rows: "setting", then one column per run label."""
        return [{"setting": d.key,
                 **{r.label: _text(v) for r, v in zip(self.runs, d.values, strict=True)}}
                for d in self.differing]


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts (and lists of dicts) as dotted keys: {"a": {"b": 1}} -> {"a.b": 1}.

    Lists of plain values stay whole ("space.training.batch_sizes": [32, 64]).
    """
    items: Iterable[tuple[str, Any]]
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list) and any(isinstance(v, (dict, list)) for v in data):
        items = ((str(i), v) for i, v in enumerate(data))
    else:
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def differing_settings(settings: Sequence[dict[str, Any]]) -> tuple[list[SettingDiff], int]:
    """The flattened keys whose values differ among ``settings``, and how many are the same."""
    flats = [flatten({k: s[k] for k in SECTIONS if k in s}) for s in settings]
    keys = sorted(set().union(*flats))
    diffs = [SettingDiff(k, tuple(f.get(k) for f in flats)) for k in keys]
    differing = [d for d in diffs if any(v != d.values[0] for v in d.values[1:])]
    return differing, len(keys) - len(differing)


def compare_runs(runs: Sequence[RunDir]) -> Comparison:
    """Compare two or more runs (duplicates dropped, order kept: the first is the reference).

    Raises RunError when fewer than two distinct runs are given or one cannot be read.
    """
    runs = list(dict.fromkeys(runs))
    if len(runs) < 2:
        raise RunError(f"pick at least two runs to compare; got {len(runs)}.")
    objective = runs[0].config().tuner.objective
    labels = _labels(runs)
    series = tuple(_series(run, label, objective) for run, label in zip(runs, labels, strict=True))
    differing, same = differing_settings([run.config().to_dict() for run in runs])
    return Comparison(series, tuple(differing), same, objective)


def _labels(runs: Sequence[RunDir]) -> list[str]:
    names = [run.display_name() for run in runs]
    return [n if names.count(n) == 1 else f"{n} ({run.name})"
            for n, run in zip(names, runs, strict=True)]


def _series(run: RunDir, label: str, objective: str) -> RunSeries:
    tuner = run.config().tuner
    reader = run.reader()
    ranked = ranked_frame(reader.trials(), tuner.direction)
    best = ranked.iloc[0] if not ranked.empty else None
    history = ranked.sort_values("number", kind="stable")
    scores = history["score"].to_numpy(dtype=float)
    epochs, values = _best_curve(reader.epochs(), None if best is None else str(best.trial_id),
                                 objective)
    return RunSeries(
        run=run.name, label=label, objective=tuner.objective, direction=tuner.direction,
        comparable=tuner.objective == objective,
        best_score=None if best is None else float(best.score),
        best_number=None if best is None else _int(best.number),
        trial_numbers=tuple(int(n) for n in history["number"]),
        best_so_far=tuple(tuner.direction.best_so_far([float(v) for v in scores])),
        curve_epochs=epochs, curve_values=values, test=evaluation_accuracy(
            run.best_json(EVALUATION_FILE)))


def _best_curve(epochs: pd.DataFrame, trial_id: str | None,
                metric: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """``metric`` per epoch of one trial (averaged over its executions), epochs 1-based."""
    if trial_id is None or epochs.empty or metric not in epochs:
        return (), ()
    rows = epochs[epochs["trial_id"].astype(str) == trial_id]
    curve = pd.to_numeric(rows[metric], errors="coerce").groupby(rows["epoch"]).mean().dropna()
    return tuple(int(e) + 1 for e in curve.index), tuple(float(v) for v in curve)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    """A setting's value for a table cell: lists as "16, 32", a missing key as "–"."""
    if value is None:
        return "–"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
