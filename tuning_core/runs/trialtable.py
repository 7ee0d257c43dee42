"""Questions asked of a trial table (``TrialLogReader.trials()``), answered in one place.

Which trials have ended, how many are in each state, and which ones compete for best: the
ranking, importance, parallel coordinates, the chance diagnosis, the planner, the progress
counts and the command line all ask here. The one settled question: a trial KerasTuner
completed counts whether it ran all its epochs (``completed``) or a stop cut them short
(``stopped``): both have a score the ranking uses, so both are in every analysis of scores,
and a stopped best trial is the best everywhere (``TrialStatus.is_ranked``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tuning_core.core.states import TrialStatus

STATES = tuple(s.value for s in TrialStatus)
ENDED = tuple(s.value for s in TrialStatus if s.is_ended())
RANKED = tuple(s.value for s in TrialStatus if s.is_ranked())


def _has(trials: pd.DataFrame, *columns: str) -> bool:
    return not trials.empty and all(c in trials for c in columns)


def counts_by_state(trials: pd.DataFrame) -> dict[str, int]:
    """Trials by state, every state listed (0 when none)."""
    counts = trials["status"].value_counts() if _has(trials, "status") else pd.Series(dtype=int)
    return {s: int(counts.get(s, 0)) for s in STATES}


def ended(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that have an outcome (completed, stopped or failed)."""
    return trials[trials["status"].isin(ENDED)] if _has(trials, "status") else trials.iloc[0:0]


def ended_count(trials: pd.DataFrame) -> int:
    """How many trials have ended (they count towards the trial budget)."""
    return len(ended(trials))


def scored(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that compete for best: KerasTuner completed them (``completed`` or
    ``stopped``) and their score is a finite number; in the table's order."""
    if not _has(trials, "status", "score"):
        return trials.iloc[0:0]
    scores = pd.to_numeric(trials["score"], errors="coerce")
    return trials[trials["status"].isin(RANKED) & np.isfinite(scores.fillna(np.nan))]


def scored_count(trials: pd.DataFrame) -> int:
    """How many trials compete for best."""
    return len(scored(trials))
