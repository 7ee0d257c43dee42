"""Which trial is best: one rule for the Monitor, the Runs page, the Best page and the retrain.

A trial competes when KerasTuner completed it, which the log spells ``completed`` or
``stopped`` (a stop ends a trial's epochs early, and KerasTuner still records its best
score), and its score is a finite number. Ties go to the earlier trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from tuning_core.core.states import Direction, TrialStatus
from tuning_core.runs.trialtable import scored


@dataclass(frozen=True)
class RankedTrial:
    """One place in the ranking."""

    rank: int
    trial_id: str
    number: int | None
    score: float
    status: TrialStatus


def ranked_frame(trials: pd.DataFrame, direction: Direction | str) -> pd.DataFrame:
    """The competing rows of a trial table, best first."""
    usable = scored(trials)
    if usable.empty:
        return usable
    scores = pd.to_numeric(usable["score"], errors="coerce")
    order = usable.assign(_score=scores, _seq=range(len(usable)))
    order = order.sort_values(["_score", "_seq"],
                              ascending=[Direction.of(direction).ascending, True])
    return order.drop(columns=["_score", "_seq"])


def ranked_trials(trials: pd.DataFrame, direction: str) -> list[RankedTrial]:
    """The competing trials, best first, as records."""
    frame = ranked_frame(trials, direction)
    if frame.empty:
        return []
    # column lists, not itertuples over every column: 50,000 trials with their
    # hyperparameter columns took a second a page run
    statuses = {s: TrialStatus.parse(s) for s in frame["status"].unique()}
    columns = (frame[c].tolist() for c in ("trial_id", "number", "score", "status"))
    return [RankedTrial(rank=i + 1, trial_id=str(trial), number=_int(number),
                        score=float(score), status=statuses[status])
            for i, (trial, number, score, status) in enumerate(zip(*columns, strict=True))]


def best_trial_id(trials: pd.DataFrame, direction: str) -> str | None:
    """The id of the best trial, or None before any trial competes."""
    frame = ranked_frame(trials, direction)
    return None if frame.empty else str(frame["trial_id"].iloc[0])


def best_score(trials: pd.DataFrame, direction: str) -> float | None:
    """The best score, or None before any trial competes."""
    frame = ranked_frame(trials, direction)
    return None if frame.empty else float(frame["score"].iloc[0])


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
