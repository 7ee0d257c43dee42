"""Parallel coordinates as SVG lines: axes, score bands, the best trial, hover text."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.analysis.test_charts import make_log, roundtrip
from tuning_core.analysis import charts, parcoords


def _axes(trials: pd.DataFrame, objective: str = "val_accuracy") -> dict[str, parcoords.Axis]:
    return {a.label: a for a in parcoords.axes(trials, objective)[1]}


def test_axes_encode_categoricals_gaps_and_log_ranges():
    trials, _ = make_log(n=12)
    found = _axes(trials)
    assert "batch_size" not in found  # constant: no information
    assert [t for _, t in found["optimizer"].ticks] == ["adam", "sgd"]
    assert [t for _, t in found["conv_2_filters"].ticks] == ["n/a", "16", "32"]  # not "16.0"
    assert [t for _, t in found["conv_blocks"].ticks] == ["1", "2", "3"]  # whole-number choices
    assert list(found)[-1] == "val_accuracy"  # the objective last, on a linear scale
    rate = found["learning_rate (log)"]
    done = parcoords.axes(trials, "val_accuracy")[0]
    order = np.argsort(done["hp:learning_rate"].to_numpy())
    assert np.all(np.diff(rate.heights[order]) >= 0)  # the log scale keeps the order
    assert float(rate.ticks[0][1]) == float(parcoords._number(done["hp:learning_rate"].min()))
    for axis in found.values():
        assert axis.heights.min() >= 0 and axis.heights.max() <= 1
        assert len(axis.heights) == len(axis.shown) == len(done)


def test_constant_objective_and_single_level_sit_mid_axis():
    series = pd.Series([0.5, 0.5, 0.5])
    axis = parcoords.numeric_axis(series, "val_accuracy", log=False)
    assert list(axis.heights) == [0.5, 0.5, 0.5] and axis.ticks == [(0.5, "0.5")]
    assert list(parcoords.levels_axis(pd.Series(["adam"] * 3), "optimizer").heights) == [0.5] * 3


def test_bands_put_the_best_scores_first_for_either_direction():
    scores = np.array([0.1, 0.5, 0.9, 0.95])
    index, styles = parcoords.bands(scores, better_high=True)
    assert index[3] == 0 and index[0] == len(styles) - 1
    assert styles[0][0] == "0.78–0.95"
    low_index, low_styles = parcoords.bands(scores, better_high=False)
    assert low_index[0] == 0 and low_styles[0][0] == "0.1–0.27"
    assert styles[0][1] == low_styles[0][1]  # the best band has the same colour either way
    assert parcoords.bands(np.array([0.7, 0.7]), True)[1] == [("0.7–0.7", styles[0][1])]


def test_figure_is_svg_lines_one_polyline_per_trial_and_the_best_on_top():
    trials, _ = make_log(n=12)
    fig = charts.parallel_figure(trials)
    sent = roundtrip(fig)
    assert {t["type"] for t in sent["data"]} == {"scatter"}  # no WebGL trace
    done, found = parcoords.axes(trials, "val_accuracy")
    assert sent["layout"]["xaxis"]["ticktext"] == [a.label for a in found]
    bands = [t for t in sent["data"] if t.get("showlegend") is not False]
    drawn = sum(t["x"].count(None) if isinstance(t["x"], list) else 0 for t in bands[:-1])
    assert drawn + 0 == sum(np.isnan(np.asarray(t["x"], dtype=float)).sum() for t in bands[:-1])
    assert drawn == len(done)  # every completed trial once, a gap after each
    best = charts.best_trial_id(trials, "val_accuracy")
    number = dict(zip(trials["trial_id"], trials["number"], strict=True))[best]
    assert bands[-1]["name"] == f"best (trial {number})"
    hover = bands[-1]["text"][0]
    assert f"trial {number}<br>" in hover and "val_accuracy: " in hover
    failed = trials.loc[trials["status"] == "failed", "number"].iloc[0]
    assert not any(f"trial {failed}<br>" in str(x) for t in bands for x in t["text"])


def test_loss_objective_colours_the_lowest_scores_as_best():
    trials, _ = make_log(n=8)
    fig = roundtrip(charts.parallel_figure(trials, "val_loss"))
    bands = [t for t in fig["data"] if t.get("showlegend") is not False and "best" not in t["name"]]
    best_band = bands[0]
    scores = [float(x.split("val_loss: ")[1]) for x in best_band["text"] if x]
    done = parcoords.axes(trials, "val_loss")[0]
    assert min(scores) == round(done["score"].min(), 4)


def test_too_few_trials_say_so():
    trials, _ = make_log(n=3)  # one completed trial
    fig = charts.parallel_figure(trials)
    assert "at least two completed" in fig.layout.annotations[0].text
