"""Plotly figures for the dashboard, one small builder per chart.

The builders read the DataFrames of :class:`tuning_core.runs.triallog.TrialLogReader` (trials and
epochs), a retrain history dict, or an evaluation's matrix, and return a ``go.Figure``. No
Streamlit here. Every figure carries the same ``layout.uirevision``, so a live redraw keeps the
user's zoom, pan and legend choices. Curves are drawn vectorised: all faint trials of one metric
form a single trace with gaps between trials, so a 1,000-trial log draws in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tuning_core.analysis import parcoords
from tuning_core.analysis.importance import Importance
from tuning_core.runs import ranking
from tuning_core.runs.schema import objective_direction

if TYPE_CHECKING:
    from tuning_core.analysis.compare import RunSeries

UIREVISION = "tuning-dashboard"  # constant on purpose: a redraw must not reset zoom or legend

# (panel title, training metric); the validation metric is "val_" + metric
PANELS: tuple[tuple[str, str], ...] = (("Loss", "loss"), ("Accuracy", "accuracy"))
FAINT = "rgba(120, 120, 120, 0.25)"
BEST_COLOR = "#1f77b4"
RUNNING_COLOR = "#ff7f0e"


def best_trial_id(trials: pd.DataFrame, objective: str) -> str | None:
    """The id of the best trial by the one ranking rule, or None when none competes."""
    return ranking.best_trial_id(trials, objective_direction(objective))


def running_trial_ids(trials: pd.DataFrame) -> list[str]:
    """The ids of the trials that are still running."""
    if trials.empty or "status" not in trials:
        return []
    return [str(t) for t in trials.loc[trials["status"] == "running", "trial_id"]]


def _finish(fig: go.Figure, title: str, **layout: Any) -> go.Figure:
    layout.setdefault("margin", dict(l=10, r=10, t=60, b=10))
    fig.update_layout(title=title, uirevision=UIREVISION, **layout)
    return fig


def empty_figure(title: str, message: str) -> go.Figure:
    """A blank figure that says why there is nothing to draw yet."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _finish(fig, title, height=300)


def objective_figure(trials: pd.DataFrame, objective: str = "val_accuracy") -> go.Figure:
    """The score of every scored trial by trial number, with the best-so-far step line."""
    title = f"Objective ({objective}) per trial"
    scored = trials[trials["score"].notna()] if "score" in trials else trials.iloc[0:0]
    if scored.empty:
        return empty_figure(title, "No trial has a score yet.")
    scored = scored.sort_values("number", kind="stable")
    x = scored["number"].to_numpy()
    y = scored["score"].to_numpy(dtype=float)
    direction = objective_direction(objective)
    best = np.asarray(direction.best_so_far(list(y)), dtype=float)
    fig = go.Figure()
    points = np.arange(len(y))
    if len(y) > OBJECTIVE_POINTS:
        fig.add_trace(_density(x, y))
        points = np.sort(np.argsort(-y if direction.higher_is_better else y,
                                    kind="stable")[:OBJECTIVE_BEST])
        title += (f"<br><sup>{len(y):,} scored trials: the best {OBJECTIVE_BEST} as points, "
                  "all as shades of grey (darker: more trials)</sup>")
        # the step line needs only where the best moves (and the last trial)
        steps = np.unique(np.r_[0, np.flatnonzero(best[1:] != best[:-1]) + 1, len(best) - 1])
        x_best, best = x[steps], best[steps]
    else:
        x_best = x
    fig.add_trace(go.Scatter(x=x[points], y=y[points], mode="markers", name="trial",
                             text=scored["trial_id"].to_numpy()[points],
                             customdata=scored["status"].to_numpy()[points],
                             hovertemplate="trial %{text} (#%{x})<br>score %{y:.4f}"
                                           "<br>%{customdata}<extra></extra>"))
    fig.add_trace(go.Scatter(x=x_best, y=best, mode="lines", name="best so far",
                             line=dict(shape="hv", width=2)))
    return _finish(fig, title, xaxis=dict(title="trial number", dtick=_whole_ticks(x.max())),
                   yaxis_title=objective, legend=dict(orientation="h", y=-0.2))


# trials drawn as points at most (each an SVG node: 3,000 were 0.2 s of the browser's time at
# every draw); past, the best OBJECTIVE_BEST as points over a density of all
OBJECTIVE_POINTS, OBJECTIVE_BEST = 1000, 300
DENSITY_BINS = (120, 40)  # trial-number bins by score bins of the density past them


def _density(x: np.ndarray, y: np.ndarray) -> go.Heatmap:
    """Every trial as a count per cell of number by score, grey where any (an image for the
    browser, not one SVG point per trial; no WebGL, which a browser without a GPU renders
    in software)."""
    counts, x_edges, y_edges = np.histogram2d(x.astype(float), y, bins=DENSITY_BINS)
    z = np.where(counts.T > 0, counts.T, np.nan)
    return go.Heatmap(x=(x_edges[:-1] + x_edges[1:]) / 2, y=(y_edges[:-1] + y_edges[1:]) / 2,
                      z=z, colorscale=[[0, "rgba(120,120,120,0.25)"], [1, "rgba(40,40,40,0.9)"]],
                      showscale=False, name="all trials", hoverongaps=False,
                      hovertemplate="%{z} trials<br>near #%{x:.0f}, score %{y:.4f}"
                                    "<extra></extra>")


def _sorted_epochs(epochs: pd.DataFrame) -> pd.DataFrame:
    keys = [k for k in ("trial_id", "execution", "epoch") if k in epochs]
    return epochs.sort_values(keys, kind="stable").reset_index(drop=True)


def _with_breaks(frame: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (1-based epoch), y and trial ids of every curve in ``frame``, NaN between curves."""
    trial = frame["trial_id"].astype(str)
    execution = frame["execution"] if "execution" in frame else pd.Series(0, index=frame.index)
    new = trial.ne(trial.shift()) | execution.ne(execution.shift())
    starts = np.flatnonzero(new.to_numpy())[1:]
    x = np.insert(frame["epoch"].to_numpy(dtype=float) + 1.0, starts, np.nan)
    y = np.insert(pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=float),
                  starts, np.nan)
    ids = np.insert(trial.to_numpy(dtype=str), starts, "")  # not object: copies are cheap
    return x, y, ids


def _mode(frame: pd.DataFrame, width: float) -> str:
    """Markers on highlighted curves and on one-epoch curves (a lone point draws no line);
    not on thousands of faint points, which would slow the browser down."""
    return "lines+markers" if width > 1 or frame["epoch"].max() < 1 else "lines"


def _curve_traces(frame: pd.DataFrame, label: str, color: str, width: float,
                  show_legend: bool) -> list[dict]:
    """Traces (plain dicts) for train and validation of every panel metric in ``frame``."""
    traces = []
    for col, (_, metric) in enumerate(PANELS, start=1):
        for split, name, dash in ((metric, "train", "solid"), (f"val_{metric}", "validation",
                                                               "dot")):
            if split not in frame or frame.empty:
                continue
            x, y, ids = _with_breaks(frame, split)
            traces.append(dict(
                type="scatter", x=x, y=y, text=ids, mode=_mode(frame, width),
                marker=dict(size=max(3.0, 2 * width)), name=f"{label} · {name}",
                xaxis="x" if col == 1 else "x2", yaxis="y" if col == 1 else "y2",
                legendgroup=f"{label} · {name}", showlegend=show_legend and col == 1,
                line=dict(color=color, width=width, dash=dash),
                hovertemplate=f"trial %{{text}}<br>epoch %{{x}}<br>{split} %{{y:.4f}}"
                              "<extra></extra>"))
    return traces


def _whole_ticks(last: float) -> int:
    """A tick step that shows whole numbers, about ten ticks up to ``last``."""
    return max(1, int(np.ceil(float(last) / 10))) if np.isfinite(last) else 1


def _two_panels(titles: Sequence[str], epochs: float, traces: list[dict]) -> go.Figure:
    """Two side-by-side x/y axis pairs holding ``traces`` (cheaper than make_subplots).

    The traces go in through the constructor as dicts: ``add_trace`` deep-copies each one.
    """
    return go.Figure(data=traces, layout=_two_panel_layout(titles, epochs))


def _two_panel_layout(titles: Sequence[str], epochs: float) -> dict:
    step = _whole_ticks(epochs)
    return dict(xaxis=dict(domain=[0.0, 0.46], title=dict(text="epoch"), dtick=step),
                yaxis=dict(title=dict(text=titles[0])),
                xaxis2=dict(domain=[0.54, 1.0], title=dict(text="epoch"), anchor="y2",
                            dtick=step),
                yaxis2=dict(anchor="x2", title=dict(text=titles[1])))


CURVES_TITLE = "Learning curves"
CURVES_ALL, CURVES_BEST = 200, 50  # every curve drawn up to CURVES_ALL trials; past, the best
BAND = "rgba(120, 120, 120, 0.18)"


def _band_traces(frame: pd.DataFrame, label: str) -> list[dict]:
    """Per panel and split, one filled polygon from the 10th to the 90th percentile of every
    trial's value at each epoch: the shape of thousands of curves in a few hundred numbers."""
    traces = []
    for col, (_, metric) in enumerate(PANELS, start=1):
        for split, name in ((metric, "train"), (f"val_{metric}", "validation")):
            if split not in frame:
                continue
            values = pd.to_numeric(frame[split], errors="coerce").groupby(frame["epoch"])
            low, high = values.quantile(0.1).dropna(), values.quantile(0.9).dropna()
            x = (high.index.to_numpy(dtype=float) + 1).tolist()
            traces.append(dict(
                type="scatter", x=x + x[::-1], y=high.tolist() + low.tolist()[::-1],
                fill="toself", fillcolor=BAND, line=dict(width=0), mode="lines",
                name=f"{label} · {name}", legendgroup=f"{label} · {name}",
                showlegend=col == 1, hoverinfo="skip",
                xaxis="x" if col == 1 else "x2", yaxis="y" if col == 1 else "y2"))
    return traces


def learning_curves_figure(trials: pd.DataFrame, epochs: pd.DataFrame,
                           objective: str = "val_accuracy") -> go.Figure:
    """Loss and accuracy per epoch, train (solid) and validation (dotted), of every trial.

    All trials are faint grey; the best completed trial is highlighted, the running one is
    drawn in its own colour so it can be followed epoch by epoch.
    """
    if epochs.empty or "epoch" not in epochs:
        return empty_figure(CURVES_TITLE, "No epoch has finished yet.")
    return go.Figure(learning_curves_spec(trials, epochs, objective))


def learning_curves_spec(trials: pd.DataFrame, epochs: pd.DataFrame,
                         objective: str = "val_accuracy") -> dict[str, Any]:
    """:func:`learning_curves_figure` as a plain ``{"data", "layout"}`` dict, not validated
    (the live feed sends it at every epoch: plotly's validation was most of its cost).
    Needs at least one epoch. Past ``CURVES_ALL`` trials only the best ``CURVES_BEST`` are
    drawn as faint lines, over a band where the middle 80% of every trial's values lie at
    each epoch, and the title says so (10,000 grey lines were 12.6 MB of JSON)."""
    frame = _sorted_epochs(epochs)
    ids = frame["trial_id"].astype(str)
    best = best_trial_id(trials, objective)
    running = running_trial_ids(trials)
    title, shown = CURVES_TITLE, ids.nunique()
    if shown <= CURVES_ALL:
        traces = _curve_traces(frame, "all trials", FAINT, 1.0, True)
    else:
        top = ranking.ranked_frame(trials, objective_direction(objective))["trial_id"]
        kept = ids.isin(set(top.astype(str).head(CURVES_BEST)))
        traces = _band_traces(frame, f"middle 80% of all {shown:,}")
        traces += _curve_traces(frame[kept], f"best {CURVES_BEST}", FAINT, 1.0, True)
        title += (f"<br><sup>{shown:,} trials: the best {CURVES_BEST} drawn, the others as the "
                  "band where the middle 80% of all lie at each epoch</sup>")
    number = _trial_numbers(trials)  # people count trials 1, 2, 3 as the other charts do
    if best is not None:
        traces += _curve_traces(frame[ids == best], f"best (trial {number(best)})", BEST_COLOR,
                                3.0, True)
    if running:
        label = f"running (trial {', '.join(number(t) for t in running)})"
        traces += _curve_traces(frame[ids.isin(running)], label, RUNNING_COLOR, 2.5, True)
    layout = _two_panel_layout([p[0] for p in PANELS], frame["epoch"].max() + 1)
    layout.update(title=dict(text=title), uirevision=UIREVISION, height=420,
                  margin=dict(l=10, r=10, t=60, b=10), legend=dict(orientation="h", y=-0.25))
    return {"data": traces, "layout": layout}


def _trial_numbers(trials: pd.DataFrame) -> Callable[[str], str]:
    """trial_id -> the trial's number as shown on the objective chart (the id when unknown)."""
    known = {} if trials.empty or "number" not in trials else dict(
        zip(trials["trial_id"].astype(str), trials["number"], strict=True))
    return lambda trial_id: str(known.get(str(trial_id), trial_id))


def parallel_figure(trials: pd.DataFrame, objective: str = "val_accuracy") -> go.Figure:
    """Parallel coordinates of the varying hyperparameters of completed trials and their score
    (SVG lines, not WebGL: :mod:`tuning_core.analysis.parcoords` says why)."""
    fig = parcoords.parallel_figure(trials, objective, _trial_numbers(trials))
    if fig is None:
        return empty_figure(parcoords.TITLE, "Needs at least two completed trials.")
    return _finish(fig, fig.layout.title.text or parcoords.TITLE, height=fig.layout.height,
                   margin=fig.layout.margin)


def importance_figure(importance: Importance) -> go.Figure:
    """Horizontal bars of hyperparameter importance, the most important on top."""
    title = "Hyperparameter importance"
    if importance.empty:
        return empty_figure(title, importance.reason or "Not enough completed trials yet.")
    fig = go.Figure(go.Bar(x=importance.values[::-1], y=importance.names[::-1], orientation="h",
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    height = max(250, 40 + 26 * len(importance.names))
    source = (f"fitted on a random {importance.fitted:,} of {importance.n_trials:,} completed "
              "trials" if importance.sampled else f"from {importance.n_trials} completed trials")
    return _finish(fig, f"{title}<br><sup>{source}</sup>",
                   height=height, xaxis_title="share of impurity decrease")


def class_counts_figure(counts: Mapping[str, int]) -> go.Figure:
    """Images per class as bars."""
    title = "Images per class"
    if not counts:
        return empty_figure(title, "No images found.")
    names, values = list(counts.keys()), list(counts.values())
    fig = go.Figure(go.Bar(x=names, y=values, text=values, textposition="outside",
                           hovertemplate="%{x}: %{y} images<extra></extra>"))
    return _finish(fig, title, xaxis_title="class", yaxis_title="images",
                   xaxis=dict(type="category"))


def confusion_figure(matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> go.Figure:
    """Confusion-matrix heatmap: true class down, predicted class across, counts in the cells."""
    title = "Confusion matrix (test split)"
    z = np.asarray(matrix, dtype=float)
    if z.size == 0:
        return empty_figure(title, "No test evaluation yet.")
    labels = [str(c) for c in classes]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=labels, colorscale="Blues", texttemplate="%{z}",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z} images"
                                             "<extra></extra>"))
    side = max(360, 60 + 34 * len(labels))
    return _finish(fig, title, height=side, xaxis=dict(title="predicted", type="category"),
                   yaxis=dict(title="true", type="category", autorange="reversed"))


def history_figure(history: Mapping[str, Sequence[float]]) -> go.Figure:
    """Learning curves of one training (a Keras ``History.history`` dict)."""
    title = "Retraining learning curves"
    lengths = [len(v) for v in history.values() if isinstance(v, Sequence)]
    if not lengths or max(lengths) == 0:
        return empty_figure(title, "No epoch recorded yet.")
    n = max(lengths)
    frame = pd.DataFrame({"trial_id": "best", "execution": 0, "epoch": np.arange(n)})
    for key, values in history.items():
        if key in {m for _, base in PANELS for m in (base, f"val_{base}")}:
            frame[key] = pd.Series(values, dtype=float).reindex(range(n))
    traces = _curve_traces(frame, "best model", BEST_COLOR, 2.5, True)
    fig = _two_panels([p[0] for p in PANELS], n, traces)
    return _finish(fig, title, legend=dict(orientation="h", y=-0.25), height=380)


def compare_objective_figure(runs: Sequence[RunSeries], objective: str) -> go.Figure:
    """Best score so far by trial number, one step line per run that optimised ``objective``
    (runs with another objective are left out: a loss and an accuracy never share an axis)."""
    title = f"Best {objective} so far, by trial"
    shown = [r for r in runs if r.comparable and r.trial_numbers]
    if not shown:
        return empty_figure(title, "No run has a scored trial yet.")
    fig = go.Figure(data=[dict(
        type="scatter", **_steps(r.trial_numbers, r.best_so_far), name=r.label,
        mode="lines+markers", line=dict(shape="hv", width=2),
        hovertemplate=f"{r.label}<br>trial %{{x}}<br>best %{{y:.4f}}<extra></extra>")
        for r in shown])
    last = max(max(r.trial_numbers) for r in shown)
    return _finish(fig, title, xaxis=dict(title="trial number", dtick=_whole_ticks(last)),
                   yaxis_title=objective, legend=dict(orientation="h", y=-0.2))


def _steps(numbers: Sequence[int], best: Sequence[float]) -> dict[str, list]:
    """x and y of a best-so-far step line: every trial up to ``OBJECTIVE_POINTS``; past it
    only where the best moves and the last trial (the same line, a point per improvement: 20
    runs of 10,000 trials were 200,000 markers)."""
    if len(numbers) <= OBJECTIVE_POINTS:
        return {"x": list(numbers), "y": list(best)}
    values = np.asarray(best, dtype=float)
    keep = np.unique(np.r_[0, np.flatnonzero(values[1:] != values[:-1]) + 1, len(values) - 1])
    return {"x": np.asarray(numbers)[keep].tolist(), "y": values[keep].tolist()}


def compare_curves_figure(runs: Sequence[RunSeries], metric: str) -> go.Figure:
    """``metric`` per epoch of each run's best trial (picked by the run's own objective)."""
    title = f"Learning curves of each run's best trial ({metric})"
    shown = [r for r in runs if r.curve_epochs]
    if not shown:
        return empty_figure(title, "No run has a best trial with epochs yet.")
    fig = go.Figure(data=[dict(
        type="scatter", x=list(r.curve_epochs), y=list(r.curve_values), mode="lines+markers",
        name=f"{r.label} (trial {r.best_number})",
        hovertemplate=f"{r.label}<br>epoch %{{x}}<br>{metric} %{{y:.4f}}<extra></extra>")
        for r in shown])
    last = max(max(r.curve_epochs) for r in shown)
    return _finish(fig, title, xaxis=dict(title="epoch", dtick=_whole_ticks(last)),
                   yaxis_title=metric, legend=dict(orientation="h", y=-0.2))


def monitor_figures(trials: pd.DataFrame, epochs: pd.DataFrame,
                    objective: str = "val_accuracy") -> dict[str, go.Figure]:
    """Every live Monitor chart (objective, learning curves, parallel coordinates) by name."""
    return {
        "objective": objective_figure(trials, objective),
        "learning_curves": learning_curves_figure(trials, epochs, objective),
        "parallel": parallel_figure(trials, objective),
    }
