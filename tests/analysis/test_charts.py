"""Tests for tuning_core.analysis.charts: every figure builds from hand-made logs, fast and
stable."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from tuning_core.analysis import charts
from tuning_core.analysis.importance import Importance
from tuning_core.core.errors import SettingsError

TRIAL_COLUMNS = ["trial_id", "number", "status", "score", "seconds", "started", "ended", "error",
                 "epochs"]
EPOCH_COLUMNS = ["trial_id", "execution", "epoch", "seconds", "time", "loss", "accuracy",
                 "val_loss", "val_accuracy"]


def make_log(n: int = 6, epochs: int = 3, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A trials table (last trial running, trial 2 failed) and its epochs, as read."""
    rng = np.random.default_rng(seed)
    ids = [f"{i:02d}" if n < 100 else f"{i:04d}" for i in range(n)]
    status = np.array(["completed"] * n, dtype=object)
    status[-1], status[min(2, n - 2)] = "running", "failed"
    score = rng.uniform(0.5, 0.99, n)
    score[status != "completed"] = np.nan
    conv = rng.integers(1, 4, n)
    trials = pd.DataFrame({
        "trial_id": ids, "number": np.arange(1, n + 1), "status": status, "score": score,
        "seconds": rng.uniform(1, 10, n), "started": 0.0, "ended": 1.0,
        "error": [("boom" if s == "failed" else None) for s in status], "epochs": epochs,
        "hp:conv_blocks": conv,
        "hp:conv_2_filters": np.where(conv >= 2, rng.choice([16, 32], n), np.nan),
        "hp:optimizer": rng.choice(["adam", "sgd"], n),
        "hp:learning_rate": 10 ** rng.uniform(-4, -2, n),
        "hp:augment_flip": rng.choice([True, False], n),
        "hp:batch_size": 32,
    })
    rows = n * epochs
    log = pd.DataFrame({
        "trial_id": np.repeat(ids, epochs), "execution": 0,
        "epoch": np.tile(np.arange(epochs), n), "seconds": 1.0, "time": 0.0,
        "loss": rng.uniform(0, 2, rows), "accuracy": rng.uniform(0, 1, rows),
        "val_loss": rng.uniform(0, 2, rows), "val_accuracy": rng.uniform(0, 1, rows),
    })
    return trials, log


def empty_log() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.DataFrame(columns=TRIAL_COLUMNS), pd.DataFrame(columns=EPOCH_COLUMNS)


def roundtrip(fig: go.Figure) -> dict:
    """The figure as the browser receives it (also proves it serialises)."""
    return json.loads(fig.to_json())


def test_objective_direction_has_one_home():
    assert charts.objective_direction("val_accuracy") == "max"
    assert charts.objective_direction("val_loss") == "min"
    with pytest.raises(SettingsError, match="objective"):  # no guessing from the name
        charts.objective_direction("my_loss_like_metric")


def test_best_trial_follows_direction():
    trials = pd.DataFrame({"trial_id": ["a", "b", "c"], "status": ["completed"] * 3,
                           "score": [0.2, 0.9, 0.5]})
    assert charts.best_trial_id(trials, "val_accuracy") == "b"
    assert charts.best_trial_id(trials, "val_loss") == "a"
    assert charts.best_trial_id(trials.iloc[0:0], "val_loss") is None


@pytest.mark.parametrize("objective,expected", [("val_accuracy", [0.3, 0.3, 0.8, 0.8]),
                                                ("val_loss", [0.3, 0.1, 0.1, 0.1])])
def test_objective_best_so_far(objective, expected):
    trials = pd.DataFrame({"trial_id": ["00", "01", "02", "03", "04"],
                           "number": [1, 2, 3, 4, 5],
                           "status": ["completed", "completed", "completed", "failed",
                                      "completed"],
                           "score": [0.3, 0.1, 0.8, np.nan, 0.5]})
    fig = charts.objective_figure(trials, objective)
    best = next(t for t in fig.data if t.name == "best so far")
    assert list(best.y) == pytest.approx(expected)
    assert list(best.x) == [1, 2, 3, 5]


def test_learning_curves_one_faint_trace_per_metric_with_gaps():
    trials, log = make_log(n=5, epochs=4)
    fig = charts.learning_curves_figure(trials, log)
    faint = [t for t in fig.data if t.name.startswith("all trials")]
    assert len(faint) == 4  # loss, val_loss, accuracy, val_accuracy
    x = np.asarray(faint[0].x, dtype=float)
    assert len(x) == 5 * 4 + 4 and np.isnan(x).sum() == 4  # 5 curves, 4 gaps
    assert np.nanmin(x) == 1  # epochs shown 1-based
    names = " ".join(t.name for t in fig.data)
    best = charts.best_trial_id(trials, "val_accuracy")
    # labels count trials from 1
    number = dict(zip(trials["trial_id"], trials["number"], strict=True))
    assert f"best (trial {number[best]})" in names and "running (trial 5)" in names


def test_learning_curves_split_executions_of_one_trial():
    log = pd.DataFrame({"trial_id": ["00"] * 4, "execution": [0, 0, 1, 1], "epoch": [0, 1, 0, 1],
                        "loss": [1.0, 0.5, 1.1, 0.6]})
    trials = pd.DataFrame({"trial_id": ["00"], "status": ["completed"], "score": [0.5]})
    fig = charts.learning_curves_figure(trials, log)
    assert np.isnan(np.asarray(fig.data[0].y, dtype=float)).sum() == 1


def test_importance_bar_and_empty_reason():
    fig = charts.importance_figure(Importance(["a", "b"], [0.7, 0.3], n_trials=5))
    assert list(fig.data[0].y) == ["b", "a"]  # most important drawn on top
    empty = charts.importance_figure(Importance(reason="needs at least 3 completed trials"))
    assert "needs at least 3" in empty.layout.annotations[0].text


def test_class_counts_confusion_history():
    assert list(charts.class_counts_figure({"cats": 3, "dogs": 5}).data[0].y) == [3, 5]
    conf = charts.confusion_figure([[3, 1], [0, 4]], ["cats", "dogs"])
    assert conf.data[0].z.tolist() == [[3, 1], [0, 4]]
    hist = charts.history_figure({"loss": [1.0, 0.5], "val_loss": [1.2, 0.8],
                                  "accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6],
                                  "learning_rate": [0.001, 0.001]})
    assert len(hist.data) == 4


def test_every_figure_handles_no_data_and_keeps_uirevision():
    trials, log = empty_log()
    figs = [*charts.monitor_figures(trials, log).values(),
            charts.importance_figure(Importance(reason="none")), charts.class_counts_figure({}),
            charts.confusion_figure([], []), charts.history_figure({})]
    full_trials, full_log = make_log()
    figs += list(charts.monitor_figures(full_trials, full_log, "val_loss").values())
    for fig in figs:
        assert roundtrip(fig)["layout"]["uirevision"] == charts.UIREVISION


def test_monitor_figures_from_a_1000_trial_log_are_fast():
    trials, log = make_log(n=1000, epochs=20)
    charts.monitor_figures(trials, log)  # warm plotly's validators
    timings = []
    for _ in range(3):  # the best of three: the machine is shared, the code's cost is the least
        start = time.perf_counter()
        figs = charts.monitor_figures(trials, log)
        timings.append(time.perf_counter() - start)
    elapsed = min(timings)
    assert elapsed < 0.5, f"building the Monitor figures took {elapsed:.2f} s"
    # past CURVES_ALL trials: band / best 50 / best / running per metric
    assert len(figs["learning_curves"].data) <= 4 * 4


def test_charts_and_importance_import_neither_streamlit_nor_tensorflow():
    code = ("import sys, tuning_core.analysis.charts, tuning_core.analysis.importance; "
            "print(sorted(m for m in ('streamlit', 'tensorflow', 'keras', 'sklearn') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], check=True).stdout
    assert out.strip() == "[]"  # sklearn too: it is imported only when a forest is fitted


def _spec_bytes(figure) -> int:
    from tuning_core.live.content import figure_json

    return len(figure_json(figure))


def test_what_a_chart_sends_grows_with_what_a_person_sees_not_with_the_run():
    """Issue 29: past their budgets the curves, the objective and the parallel coordinates
    draw the best trials and the shape of the rest, and each title says so."""
    trials, log = make_log(n=5_000, epochs=5)
    figs = charts.monitor_figures(trials, log)
    curves, objective, parallel = (figs[n] for n in ("learning_curves", "objective", "parallel"))
    assert _spec_bytes(curves) < 300_000 and "the best 50 drawn" in curves.layout.title.text
    assert any(t.fill == "toself" for t in curves.data)  # the band of the others
    assert _spec_bytes(objective) < 200_000
    assert "the best 300 as points" in objective.layout.title.text
    assert objective.data[0].type == "heatmap" and len(objective.data[1].x) == 300
    assert _spec_bytes(parallel) < 600_000 and "400 of 4,998" in parallel.layout.title.text


def test_a_small_run_draws_every_trial_as_before():
    trials, log = make_log(n=20, epochs=3)
    figs = charts.monitor_figures(trials, log)
    for name in ("learning_curves", "objective", "parallel"):
        assert "<sup>" not in (figs[name].layout.title.text or ""), name
    assert [t.type for t in figs["objective"].data] == ["scatter", "scatter"]
    assert len(figs["objective"].data[0].x) == 18  # every scored trial
    assert figs["learning_curves"].data[0].name == "all trials · train"
