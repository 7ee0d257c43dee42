"""The questions asked of a trial table, answered once (tuning_core/runs/trialtable.py)."""

from __future__ import annotations

import pandas as pd

from tuning_core.analysis.importance import hp_importance
from tuning_core.analysis.parcoords import parallel_figure
from tuning_core.runs import trialtable
from tuning_core.runs.ranking import ranked_trials


def table() -> pd.DataFrame:
    """Five trials: two completed, the best one stopped by a stop, one failed, one running,
    and a completed one whose score is not a number."""
    return pd.DataFrame({
        "trial_id": ["0", "1", "2", "3", "4", "5"], "number": [1, 2, 3, 4, 5, 6],
        "status": ["completed", "stopped", "completed", "failed", "running", "completed"],
        "score": [0.80, 0.95, 0.70, None, None, float("nan")],
        "hp:units": [32, 64, 16, 8, 32, 64], "hp:optimizer": ["adam", "sgd", "adam", "sgd",
                                                             "adam", "sgd"]})


def test_counts_and_ended_trials() -> None:
    trials = table()
    assert trialtable.counts_by_state(trials) == {"running": 1, "completed": 3, "stopped": 1,
                                                  "failed": 1, "interrupted": 0}
    assert trialtable.ended_count(trials) == 5
    assert trialtable.counts_by_state(trials.iloc[0:0])["completed"] == 0


def test_a_stopped_trial_competes_everywhere_the_ranking_does() -> None:
    """The question settled once: KerasTuner completed a stopped trial, so it has a score
    the ranking uses, and every analysis of scores counts it too (importance and parallel
    coordinates used to count completed trials only, so a stopped best trial had no 'best'
    line in parallel coordinates)."""
    trials = table()
    assert list(trialtable.scored(trials)["trial_id"]) == ["0", "1", "2"]
    best = ranked_trials(trials, "max")[0]
    assert (best.trial_id, best.status.value) == ("1", "stopped")
    figure = parallel_figure(trials, "val_accuracy", lambda trial_id: str(int(trial_id) + 1))
    assert "best (trial 2)" in [trace.name for trace in figure.data]
    assert hp_importance(trials, min_trials=3).n_trials == 3
