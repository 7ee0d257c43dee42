"""The Pareto front and the limits rule: dominance, ties, each axis's direction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tuning_core.analysis.pareto import AXES, Limits, front_frame, non_dominated, pick_within
from tuning_core.analysis.pareto_chart import front_figure
from tuning_core.core.errors import RunError


def trials(rows: list[tuple[float, float, int]], status: str = "completed") -> pd.DataFrame:
    """(score, latency_ms, params) per trial, numbered from 1."""
    return pd.DataFrame([{"trial_id": f"{i:02d}", "number": i + 1, "status": status,
                          "score": s, "latency_ms": ms, "params": p}
                         for i, (s, ms, p) in enumerate(rows)])


def test_a_point_worse_on_both_axes_is_dominated():
    assert non_dominated(np.array([[1, 1], [2, 2], [0, 3], [3, 0]])).tolist() == [
        True, False, True, True]


def test_equal_points_are_both_on_the_front_and_a_tie_on_one_axis_dominates():
    assert non_dominated(np.array([[1, 1], [1, 1]])).tolist() == [True, True]
    assert non_dominated(np.array([[1, 1], [1, 2]])).tolist() == [True, False]


def test_higher_accuracy_and_lower_latency_are_better():
    frame = front_frame(trials([(0.9, 2.0, 10), (0.8, 3.0, 5), (0.95, 5.0, 50)]), "max",
                        AXES["latency"])
    on_front = dict(zip(frame["number"], frame["on_front"], strict=True))
    assert on_front == {1: True, 2: False, 3: True}


def test_a_loss_objective_is_better_lower():
    frame = front_frame(trials([(0.2, 2.0, 10), (0.1, 3.0, 5), (0.3, 1.0, 50)]), "min",
                        AXES["latency"])
    assert frame["on_front"].all()
    frame = front_frame(trials([(0.2, 2.0, 10), (0.3, 3.0, 5)]), "min", AXES["latency"])
    assert dict(zip(frame["number"], frame["on_front"], strict=True)) == {1: True, 2: False}


def test_the_parameters_axis_has_its_own_front():
    frame = front_frame(trials([(0.9, 2.0, 10), (0.8, 3.0, 5), (0.95, 5.0, 50)]), "max",
                        AXES["params"])
    assert frame["on_front"].all()  # trial 2 is the smallest, so it stays


def test_trials_without_a_cost_or_not_completed_are_left_out():
    table = trials([(0.9, 2.0, 10), (0.8, None, 5)])
    table.loc[len(table)] = {"trial_id": "09", "number": 10, "status": "failed", "score": None,
                             "latency_ms": 0.1, "params": 1}
    assert front_frame(table, "max", AXES["latency"])["number"].tolist() == [1]
    assert front_frame(table.drop(columns=["latency_ms"]), "max", AXES["latency"]).empty


def test_the_figure_greys_the_dominated_and_says_the_trial_on_hover():
    fig = front_figure(trials([(0.9, 2.0, 10), (0.8, 3.0, 5)]), "max", "val_accuracy",
                       "latency", run="run-a")
    by_name = {trace.name: trace for trace in fig.data}
    assert list(by_name["Pareto front"].x) == [2.0]
    assert list(by_name["dominated"].customdata[0]) == ["run-a", "01"]
    assert "trial 2 (01)" in by_name["dominated"].hovertext[0]


def test_pick_within_takes_the_best_that_fits_and_says_what_it_gave_up():
    table = trials([(0.95, 9.0, 500), (0.9, 4.0, 200), (0.85, 1.0, 50)])
    choice = pick_within(table, "max", "val_accuracy", Limits(max_ms=5))
    assert (choice.chosen.number, choice.best.number) == (2, 1)
    assert choice.gave_up == pytest.approx(0.05)
    assert "gives up 0.0500 val_accuracy" in choice.describe()
    both = pick_within(table, "max", "val_accuracy", Limits(max_ms=5, max_params=100))
    assert both.chosen.number == 3
    assert "nothing given up" in pick_within(table, "max", "val_accuracy",
                                             Limits(max_ms=50)).describe()


def test_pick_within_says_why_nothing_fits():
    table = trials([(0.95, 9.0, 500), (0.9, 4.0, 200)])
    with pytest.raises(RunError, match=r"closest is trial 2 .* 4.00 ms"):
        pick_within(table, "max", "val_accuracy", Limits(max_ms=1))
    with pytest.raises(RunError, match="no completed trial has a measured cost"):
        pick_within(table.drop(columns=["latency_ms"]), "max", "val_accuracy", Limits(max_ms=1))
    with pytest.raises(RunError, match="--max-ms must be above 0"):
        Limits(max_ms=0)


def brute_force(points: np.ndarray) -> np.ndarray:
    """The definition, pair by pair: what the sweep must agree with."""
    no_worse = (points[:, None, :] <= points[None, :, :]).all(axis=2)
    better = (points[:, None, :] < points[None, :, :]).any(axis=2)
    return ~(no_worse & better).any(axis=0)


@pytest.mark.parametrize("columns", [1, 2, 3])
def test_the_sweep_agrees_with_every_pair_compared(columns):
    rng = np.random.default_rng(columns)
    for case in range(400):  # small integer grids: many ties, equal points, gaps
        n = int(rng.integers(0, 30))
        points = rng.integers(0, 5, size=(n, columns)).astype(float)
        if n and case % 3 == 0:
            points[rng.integers(0, n)] = np.nan
        if n and case % 4 == 0:
            points[rng.integers(0, n), 0] = np.inf
        assert non_dominated(points).tolist() == brute_force(points).tolist(), points


def test_fifty_thousand_trials_need_no_n_by_n_arrays():
    """Every pair compared needed 2.5e9 booleans (several GB) here; the sweep needs a few
    arrays of n. Bounds are loose for a busy machine: the sweep takes ~0.05 s and ~5 MB."""
    import time
    import tracemalloc

    rng = np.random.default_rng(0)
    n = 50_000
    table = pd.DataFrame({"trial_id": [f"{i:05d}" for i in range(n)], "number": np.arange(n),
                          "status": "completed", "score": rng.random(n),
                          "latency_ms": rng.gamma(2.0, 2.0, n), "params": rng.integers(1, 9, n)})
    tracemalloc.start()
    started = time.perf_counter()
    frame = front_frame(table, "max", AXES["latency"])
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 10 and peak < 200e6, (seconds, peak)
    front = frame[frame["on_front"]].sort_values("latency_ms")
    assert 1 <= len(front) < 200  # a random cloud's front is about log n long
    assert front["score"].is_monotonic_increasing  # slower only where it scores better


def test_past_its_budget_the_chart_draws_the_front_and_a_sample_and_says_so():
    from tuning_core.analysis.pareto_chart import DOMINATED_DRAWN

    rng = np.random.default_rng(1)
    table = trials([(float(s), float(ms), 10) for s, ms in rng.random((4000, 2))])
    fig = front_figure(table, "max", "val_accuracy", "latency")
    by_name = {trace.name: trace for trace in fig.data}
    front = front_frame(table, "max", AXES["latency"])["on_front"]
    assert len(by_name["Pareto front"].x) == front.sum()  # the front is always whole
    assert len(by_name["dominated"].x) == DOMINATED_DRAWN
    assert f"a random {DOMINATED_DRAWN:,} of {(~front).sum():,} dominated" in fig.layout.title.text


def test_the_list_to_pick_from_holds_the_front_and_the_best_of_the_rest():
    """Issue 29: a list of every trial was 10,000 labels at every rerun of the Best page."""
    from tuning_core.analysis.pareto import listed_trials

    rng = np.random.default_rng(2)
    table = trials([(float(s), float(ms), 10) for s, ms in rng.random((3000, 2))])
    frame = front_frame(table, "max", AXES["latency"])
    front = frame[frame["on_front"]]["trial_id"].tolist()
    listed = listed_trials(frame, "max", limit=50)
    assert len(listed) == 50 and listed[:len(front)] == front  # the whole front first
    rest = frame[~frame["on_front"]].sort_values("score", ascending=False)
    assert set(listed[len(front):]) == set(rest["trial_id"].head(50 - len(front)))
    worst = rest["trial_id"].iloc[-1]
    assert listed_trials(frame, "max", worst, limit=50) == [*listed, worst]  # a clicked one
    assert listed_trials(frame, "max", "no such trial", limit=50) == listed
    small = front_frame(trials([(0.5, 2.0, 1), (0.6, 1.0, 1), (0.4, 3.0, 1)]), "max",
                        AXES["latency"])
    assert listed_trials(small, "max") == ["01", "00", "02"]  # a small run: all, as before
