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


def test_a_page_of_the_table_is_sorted_and_filtered_on_the_server():
    from tuning_core.runs.trialtable import table_page

    table = pd.DataFrame({"number": range(1, 501), "status": ["completed", "failed"] * 250,
                          "score": [None if i % 7 == 0 else i / 500 for i in range(500)]})
    first = table_page(table, "score", descending=True, size=100)
    assert (first.matching, first.total, first.pages, len(first.rows)) == (500, 500, 5, 100)
    assert first.rows["score"].iloc[0] == 499 / 500
    last = table_page(table, "score", descending=True, page=99, size=100)  # clamped
    assert last.page == 4 and last.rows["score"].tail(72).isna().all()  # missing: last
    failed = table_page(table, statuses=["failed"], page=1, size=100)
    assert (failed.matching, failed.page) == (250, 1)
    assert set(failed.rows["status"]) == {"failed"}
    assert failed.describe() == "rows 101-200 of 250 (filtered from 500)"
    assert table_page(table, statuses=["running"]).describe() == "no trial of 500 matches"
