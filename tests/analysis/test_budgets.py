"""Issue 29: what each chart sends grows with what a person can see, not with the run.

At 50,000 trials (a lab's largest sweep) every Monitor, Best model and Compare figure stays
within its budget of bytes (the JSON the feed and Streamlit send) and of SVG markers (each one a
DOM node the browser lays out at every draw), and says on the chart what it leaves out; a run of
20 trials draws every trial as before. Counts and bytes only: no clock.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.analysis.test_charts import make_log
from tuning_core.analysis import charts, parcoords
from tuning_core.analysis.importance import MAX_FIT, hp_importance
from tuning_core.analysis.pareto_chart import DOMINATED_DRAWN, front_figure
from tuning_core.live.content import LIVE_ROWS, figure_json, live_table, trial_table
from tuning_core.live.html import table_html

HUGE = 50_000


def markers(figure) -> int:
    """Points drawn as SVG markers: those of traces whose mode has markers (not the gaps)."""
    traces = figure["data"] if isinstance(figure, dict) else [
        {"type": t.type, "mode": getattr(t, "mode", None), "x": t.x} for t in figure.data]
    return sum(int(np.isfinite(np.asarray(t["x"], dtype=float)).sum()) for t in traces
               if t.get("type", "scatter") == "scatter" and "markers" in (t.get("mode") or ""))


def title(figure) -> str:
    spec = figure if isinstance(figure, dict) else figure.to_plotly_json()
    text = spec["layout"].get("title", {})
    return text.get("text", "") if isinstance(text, dict) else str(text)


@pytest.fixture(scope="module")
def huge() -> tuple[pd.DataFrame, pd.DataFrame]:
    trials, log = make_log(n=HUGE, epochs=3)
    rng = np.random.default_rng(5)
    return trials.assign(latency_ms=rng.uniform(1, 50, HUGE),
                         params=rng.integers(10_000, 5_000_000, HUGE)), log


def test_every_monitor_figure_stays_within_its_budget_at_50000_trials(huge) -> None:
    trials, log = huge
    objective = charts.objective_figure(trials)
    assert markers(objective) <= charts.OBJECTIVE_BEST
    assert objective.data[0].type == "heatmap"  # every trial, as shades of grey
    assert len(figure_json(objective)) < 120_000
    assert f"{HUGE - 2:,} scored trials: the best {charts.OBJECTIVE_BEST}" in title(objective)

    curves = charts.learning_curves_spec(trials, log)
    drawn = {str(t) for trace in curves["data"] for t in trace.get("text", ()) if str(t)}
    assert len(drawn) <= charts.CURVES_BEST + 2  # the best 50, the best, the running one
    assert len(figure_json(curves)) < 150_000 and f"{HUGE:,} trials" in title(curves)

    parallel = charts.parallel_figure(trials)
    # past MARKED lines: lines only (hover still on their vertices); the best trial's marked
    assert markers(parallel) == len(parallel.layout.xaxis.tickvals)
    lines = sum(int(np.isnan(np.asarray(t.x, dtype=float)).sum()) for t in parallel.data
                if t.name and t.mode == "lines")  # the score bands' traces
    assert lines == parcoords.DRAWN
    assert len(figure_json(parallel)) < 400_000
    assert f"{parcoords.DRAWN:,} of {HUGE - 2:,} completed trials drawn" in title(parallel)

    for axis in ("latency", "params"):
        front = front_figure(trials, "max", "val_accuracy", axis)
        on_front = len(next(t for t in front.data if t.name == "Pareto front").x)
        assert markers(front) == DOMINATED_DRAWN + on_front < DOMINATED_DRAWN + 100
        assert len(figure_json(front)) < 120_000 and "a random 500 of" in title(front)

    importance = hp_importance(trials)
    assert importance.fitted == MAX_FIT and importance.n_trials == HUGE - 2
    assert "fitted on a random 2,000 of 49,998" in title(charts.importance_figure(importance))

    rows, note = live_table(trial_table(trials), "val_accuracy")
    assert len(rows) == LIVE_ROWS and note and f"{HUGE:,} trials" in note
    assert len(table_html(rows, note)) < 60_000


def test_a_run_of_20_trials_draws_every_trial_as_before() -> None:
    trials, _ = make_log(n=20, epochs=3)
    rng = np.random.default_rng(5)
    trials = trials.assign(latency_ms=rng.uniform(1, 50, 20), params=rng.integers(1, 9, 20))
    completed = int((trials["status"] == "completed").sum())
    parallel = charts.parallel_figure(trials)
    assert {t.mode for t in parallel.data if t.name} == {"lines+markers"}  # markers, as before
    axes = len(parallel.layout.xaxis.tickvals)
    assert markers(parallel) == (completed + 1) * axes  # each trial's vertices, the best's again
    front = front_figure(trials, "max", "val_accuracy", "latency")
    assert markers(front) == completed and "<sup>" not in title(front)
    objective = charts.objective_figure(trials)
    assert markers(objective) == completed and "<sup>" not in title(objective)


def test_compare_with_20_runs_of_50000_trials_draws_each_runs_improvements_only() -> None:
    from tuning_core.analysis.compare import RunSeries

    rng = np.random.default_rng(3)
    runs = []
    for i in range(20):
        best = np.maximum.accumulate(rng.uniform(0.5, 0.99, HUGE))
        runs.append(RunSeries(f"r{i}", f"r{i}", "val_accuracy", "max", True, float(best[-1]),
                              1, tuple(range(1, HUGE + 1)), tuple(best.tolist())))
    figure = charts.compare_objective_figure(runs, "val_accuracy")
    moves = [int((np.diff(np.asarray(r.best_so_far)) != 0).sum()) for r in runs]
    assert markers(figure) <= sum(moves) + 2 * len(runs) < 20 * 40  # improvements: about ln n
    assert len(figure_json(figure)) < 100_000
    three = RunSeries("s", "s", "val_accuracy", "max", True, 0.9, 2, (1, 2, 3), (0.5, 0.9, 0.9))
    short = charts.compare_objective_figure([runs[0], three], "val_accuracy")
    assert list(short.data[1].x) == [1, 2, 3]  # a short run: a point per trial, as before
