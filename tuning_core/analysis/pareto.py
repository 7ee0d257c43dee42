"""Choose by cost: the Pareto front of the objective against latency or parameters.

A trial is on the front when no other trial is at least as good on both axes and better on
one; trials with equal points are all on it. The objective's direction is the run's, the
costs are always better smaller. ``pick_within`` is the rule a user states on the Best page
and in the CLI (``best RUN_DIR --max-ms M --max-params N``): the best trial by the one
ranking (:mod:`tuning_core.runs.ranking`) among those within the limits, and what it gives up
against the best trial of all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from tuning_core.core.errors import RunError
from tuning_core.core.states import Direction
from tuning_core.runs.ranking import ranked_frame


@dataclass(frozen=True)
class CostAxis:
    """A cost drawn against the objective (smaller is better)."""

    column: str
    label: str
    unit: str
    log: bool  # a log axis: parameters span orders of magnitude


AXES: dict[str, CostAxis] = {
    "latency": CostAxis("latency_ms", "CPU latency (ms per image)", "ms", log=False),
    "params": CostAxis("params", "Parameters", "", log=True),
    "macs": CostAxis("macs", "Multiply-adds per image", "", log=True),
}


def non_dominated(points: np.ndarray) -> np.ndarray:
    """A mask of the rows of ``points`` (n x k, every column better smaller) that no other
    row dominates (at least as small everywhere, smaller somewhere). A row with a missing
    value neither dominates nor is dominated, as in a comparison with NaN.

    Why not compare every pair: at 10,000 trials the n x n arrays took 6 s and 867 MB. Two
    columns (every chart's case) take a sort and one sweep, O(n log n); more columns sweep
    the rows in sorted order against the front found so far, O(n x front)."""
    points = np.asarray(points, dtype=float)
    mask = np.ones(len(points), dtype=bool)
    if points.size == 0:
        return mask
    rows = np.flatnonzero(~np.isnan(points).any(axis=1))
    if len(rows):
        sweep = _sweep_2d if points.shape[1] == 2 else _sweep_k
        mask[rows] = sweep(points[rows])
    return mask


def _sweep_2d(points: np.ndarray) -> np.ndarray:
    """Two columns: sorted by x, a point is dominated when an earlier x reached a y at most
    its own, or its own x reached a y below its own (equal points dominate nothing)."""
    order = np.lexsort((points[:, 1], points[:, 0]))
    x, y = points[order, 0], points[order, 1]
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])  # each group of equal x
    group = np.cumsum(np.r_[True, x[1:] != x[:-1]]) - 1
    group_min = y[starts]  # sorted by y within a group: its first is its least
    before = np.r_[np.inf, np.minimum.accumulate(group_min)[:-1]]  # least y of smaller x
    dominated = ((group > 0) & (before[group] <= y)) | (y > group_min[group])
    mask = np.empty(len(points), dtype=bool)
    mask[order] = ~dominated
    return mask


def _sweep_k(points: np.ndarray) -> np.ndarray:
    """Any number of columns: in lexicographic order only an earlier row can dominate a
    later one, and whatever does is itself dominated by a row of the front or on it."""
    order = np.lexsort(points.T[::-1])
    front: list[int] = []
    mask = np.zeros(len(points), dtype=bool)
    for i in order:
        kept = points[front]
        if not (front and ((kept <= points[i]).all(axis=1)
                           & (kept < points[i]).any(axis=1)).any()):
            front.append(i)
            mask[i] = True
    return mask


def front_frame(trials: pd.DataFrame, direction: str, axis: CostAxis) -> pd.DataFrame:
    """The competing trials that have a measured cost: run (when the table has a ``run``
    column: several runs' trials together), trial_id, number, score, the cost column and
    ``on_front``; sorted by cost."""
    ranked = ranked_frame(trials, direction)
    if "run" not in ranked:
        ranked = ranked.assign(run="")
    columns = ["run", "trial_id", "number", "score", axis.column]
    if ranked.empty or axis.column not in ranked:
        return pd.DataFrame(columns=[*columns, "on_front"])
    frame = ranked[columns].copy()
    frame[axis.column] = pd.to_numeric(frame[axis.column], errors="coerce")
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce")
    frame = frame.dropna(subset=[axis.column])
    way = Direction.of(direction)
    points = np.column_stack([way.sign * frame["score"].to_numpy(), frame[axis.column].to_numpy()])
    frame["on_front"] = non_dominated(points)
    return frame.sort_values([axis.column, "score"], ascending=[True, way.ascending])


LISTED = 200  # trials a list to pick from offers at most: the front, then the best of the rest


def listed_trials(frame: pd.DataFrame, direction: str, picked: object = None,
                  limit: int = LISTED) -> list[str]:
    """The trial ids a list to pick from offers, of a :func:`front_frame`: the whole front,
    then the best of the rest by score, ``limit`` at most (10,000 labels were 0.4 MB sent
    and seconds of the server's time at every rerun of the Best page), in the frame's order
    with the front first; and ``picked`` (a trial clicked on the chart) wherever it ranks.
    A run within the limit lists every trial, as before."""
    front = frame["on_front"].astype(bool)
    rest = frame[~front].sort_values("score", ascending=Direction.of(direction).ascending,
                                     kind="stable")
    kept = frame[front | frame.index.isin(rest.index[:max(0, limit - int(front.sum()))])]
    ids = [str(t) for t in kept.sort_values("on_front", ascending=False,
                                            kind="stable")["trial_id"]]
    if picked is not None and str(picked) not in ids and \
            str(picked) in set(frame["trial_id"].astype(str)):
        ids.append(str(picked))
    return ids


def combined_trials(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Several runs' trial tables as one, each row labelled with its run (for Compare: one
    front over the runs, which must share the objective)."""
    frames = [t.assign(run=label) for label, t in tables.items() if not t.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@dataclass(frozen=True)
class Limits:
    """What the chosen model may cost at most (None: no limit on that axis)."""

    max_ms: float | None = None
    max_params: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("max-ms", self.max_ms), ("max-params", self.max_params)):
            if value is not None and not value > 0:
                raise RunError(f"--{name} must be above 0; got {value}.")

    @property
    def any(self) -> bool:
        return self.max_ms is not None or self.max_params is not None

    def describe(self) -> str:
        parts = ([f"under {self.max_ms:g} ms"] if self.max_ms is not None else []) + \
            ([f"at most {self.max_params:,} parameters"] if self.max_params is not None else [])
        return " and ".join(parts) or "no limit"

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        keep = pd.Series(True, index=frame.index)
        if self.max_ms is not None:
            keep &= pd.to_numeric(frame["latency_ms"], errors="coerce") <= self.max_ms
        if self.max_params is not None:
            keep &= pd.to_numeric(frame["params"], errors="coerce") <= self.max_params
        return keep


@dataclass(frozen=True)
class CostedTrial:
    """A trial with its score and cost, as the limits rule reports it."""

    trial_id: str
    number: int | None
    score: float
    latency_ms: float | None
    params: int | None

    def describe(self, objective: str) -> str:
        cost = f"{self.latency_ms:.2f} ms" if self.latency_ms is not None else "? ms"
        params = f"{self.params:,} parameters" if self.params is not None else "? parameters"
        return f"trial {self.number} ({objective} {self.score:.4f}, {cost}, {params})"


@dataclass(frozen=True)
class LimitChoice:
    """The best trial within the limits, the best of all, and what the choice gives up."""

    limits: Limits
    chosen: CostedTrial
    best: CostedTrial
    objective: str

    @property
    def gave_up(self) -> float:
        """How much worse the chosen score is than the best (0 when the best fits)."""
        return abs(self.best.score - self.chosen.score)

    def describe(self) -> str:
        head = f"{self.limits.describe()}: {self.chosen.describe(self.objective)}"
        if self.chosen.trial_id == self.best.trial_id:
            return head + "; the best trial of all fits, nothing given up."
        return (head + f"; gives up {self.gave_up:.4f} {self.objective} against the best, "
                f"{self.best.describe(self.objective)}.")

    def to_dict(self) -> dict[str, Any]:
        return {"limits": asdict(self.limits), "chosen": asdict(self.chosen),
                "best": asdict(self.best), "objective": self.objective,
                "gave_up": self.gave_up, "summary": self.describe()}


def pick_within(trials: pd.DataFrame, direction: str, objective: str,
                limits: Limits) -> LimitChoice:
    """The best trial whose cost is within ``limits``; RunError when there is none, saying
    which trial comes closest, or when no trial has a measured cost."""
    ranked = ranked_frame(trials, direction)
    if ranked.empty:
        raise RunError("no trial has completed yet: nothing to choose from.")
    needed = [c for c, v in (("latency_ms", limits.max_ms), ("params", limits.max_params))
              if v is not None]
    costed = ranked.dropna(subset=[c for c in needed if c in ranked]) if needed else ranked
    if any(c not in ranked for c in needed) or costed.empty:
        raise RunError("no completed trial has a measured cost; measure them first "
                       "(python -m tuning_core cost RUN_DIR).")
    fits = costed[limits.mask(costed)]
    if fits.empty:
        closest = costed.sort_values(needed[0]).iloc[0]
        raise RunError(f"no completed trial is {limits.describe()}; the closest is "
                       f"{_costed(closest).describe(objective)}.")
    return LimitChoice(limits, _costed(fits.iloc[0]), _costed(ranked.iloc[0]), objective)


def _costed(row: pd.Series) -> CostedTrial:
    def number(value: Any, kind: type) -> Any:
        value = pd.to_numeric(value, errors="coerce")
        return None if pd.isna(value) else kind(value)
    return CostedTrial(trial_id=str(row["trial_id"]), number=number(row.get("number"), int),
                       score=float(row["score"]), latency_ms=number(row.get("latency_ms"), float),
                       params=number(row.get("params"), int))
