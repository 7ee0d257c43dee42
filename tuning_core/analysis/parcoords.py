"""Parallel coordinates of the completed trials, drawn as SVG lines (Plotly scatter traces).

Why not Plotly's ``go.Parcoords``: it draws with WebGL, and a browser with no GPU to hand (a
VM, a remote desktop, headless Chromium here) renders WebGL in software. Bench figure 9
measured a Monitor page's first parcoords draw at 11-15 s of its main thread with ten pages
on one core, every live update of the page waiting behind it, and 0.4 s a redraw after.
Scatter lines are SVG paths, a few milliseconds for hundreds of trials, and they can be
hovered: each point names its trial, the hyperparameter's value and the score, which
parcoords cannot. What parcoords had and this has not is dragging a range on an axis to
filter; here the trials are coloured in score bands, one legend entry each (a click hides a
band: filtering on the objective), the best trial drawn on top, and the Monitor's trial
table sorts by any column.

Past ``DRAWN`` completed trials the lines drawn are the best ``BEST_DRAWN`` and a seeded random
sample of the rest, and the title says so: 10,000 lines were 5.2 MB of JSON and seconds of
SVG for the browser, and a person reads the best ones and the shape of the rest. The axes'
scales and the bands still come from every completed trial.

Each axis maps its values to heights 0..1: numbers linearly, or by log10 when they span a
factor of 10 or more (learning rates); strings, booleans, a few whole numbers (block counts)
and columns with gaps (a conditional hyperparameter; its gap is "n/a") as evenly spaced
levels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from tuning_core.analysis.importance import (
    MISSING_LABEL,
    completed_with_score,
    hp_columns,
    hp_name,
    is_categorical,
    varying_columns,
)
from tuning_core.runs import ranking
from tuning_core.runs.schema import objective_direction

TITLE = "Hyperparameters against the objective"
BANDS = 5  # score bands, one legend entry (and one trace) each
BEST_LINE = "#d62728"
AXIS_LINE = "rgba(128, 128, 128, 0.6)"
TICKS = 5  # labelled heights on a numeric axis
DRAWN, BEST_DRAWN = 400, 300  # lines drawn at most, of them the best (the rest: a sample)
MARKED = 100  # lines drawn with a marker at each axis up to this many; past, lines only
# (400 lines of 9 axes were 3,600 SVG markers, most of the page's DOM at 10,000 trials)


@dataclass(frozen=True)
class Axis:
    """One vertical axis: each trial's height on it (0..1), its value as text, the ticks."""

    label: str
    heights: np.ndarray
    shown: list[str]
    ticks: list[tuple[float, str]]


def _number(value: float) -> str:
    return f"{value:.4g}"


def _level(value: Any) -> str:
    """32.0 -> "32" (a column with gaps holds floats), other values as they are."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _log_scaled(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 1 and finite.min() > 0 and finite.max() / finite.min() >= 10


def _few_whole_numbers(series: pd.Series) -> bool:
    values = pd.to_numeric(series.dropna(), errors="coerce")
    return values.nunique() <= 12 and bool((values % 1 == 0).all())


def _spread(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """values -> heights 0..1 between their least and greatest (0.5 when all are equal)."""
    low, high = float(np.min(values)), float(np.max(values))
    if high == low:
        return lambda v: np.full(np.shape(v), 0.5)
    return lambda v: (np.asarray(v, dtype=float) - low) / (high - low)


def levels_axis(series: pd.Series, label: str) -> Axis:
    """Evenly spaced levels in their natural order; a gap is the level "n/a", first."""
    present = series.dropna()
    levels = sorted(present.unique(), key=lambda v: (isinstance(v, str), v))
    names = [_level(v) for v in levels]
    code = {v: i for i, v in enumerate(levels)}
    gaps = bool(series.isna().any())
    if gaps:
        names = [MISSING_LABEL, *names]
    codes = np.array([0 if pd.isna(v) else code[v] + gaps for v in series], dtype=int)
    height = _spread(np.arange(len(names)))
    return Axis(label, height(codes), [names[c] for c in codes],
                list(zip(height(np.arange(len(names))).tolist(), names, strict=True)))


def numeric_axis(series: pd.Series, label: str, log: bool | None = None) -> Axis:
    """Numbers spread linearly, or by log10 (``log`` None: when they span a factor of 10)."""
    values = series.to_numpy(dtype=float)
    log = _log_scaled(values) if log is None else log
    scaled = np.log10(values) if log else values
    height = _spread(scaled)
    low, high = float(np.min(scaled)), float(np.max(scaled))
    marks = np.linspace(low, high, TICKS) if high > low else np.array([low])
    texts = [_number(10 ** m if log else m) for m in marks]
    ticks = list(zip(height(marks).tolist(), texts, strict=True))
    return Axis(f"{label} (log)" if log else label, height(scaled),
                [_number(v) for v in values], ticks)


def hp_axis(series: pd.Series, name: str) -> Axis:
    if is_categorical(series) or series.isna().any() or _few_whole_numbers(series):
        return levels_axis(series, name)
    return numeric_axis(series, name)


def axes(trials: pd.DataFrame, objective: str) -> tuple[pd.DataFrame, list[Axis]]:
    """The completed trials with a score, and one axis per varying hyperparameter, then the
    objective's (never log-scaled: its scale is the one people read); no axes with fewer
    than two such trials."""
    done = completed_with_score(trials).reset_index(drop=True)
    if len(done) < 2:
        return done, []
    columns = varying_columns(done, hp_columns(done))
    found = [hp_axis(done[c], hp_name(c)) for c in columns]
    found.append(numeric_axis(done["score"], objective, log=False))
    return done, found


def bands(scores: np.ndarray, better_high: bool) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Each score's band (0 is the best band) and each band's (label, colour), equal widths
    from the worst score to the best; the best band is Viridis' yellow end."""
    low, high = float(np.min(scores)), float(np.max(scores))
    count = BANDS if high > low else 1
    edges = np.linspace(low, high, count + 1)
    index = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, count - 1)
    if better_high:
        index = count - 1 - index
        edges = edges[::-1]
    colours = sample_colorscale("Viridis", [1 - i / max(count - 1, 1) for i in range(count)])
    labels = [f"{_number(min(edges[i], edges[i + 1]))}–{_number(max(edges[i], edges[i + 1]))}"
              for i in range(count)]
    return index, list(zip(labels, colours, strict=True))


def _polylines(rows: np.ndarray, heights: np.ndarray, text: np.ndarray) -> dict[str, list]:
    """x, y, text of the trials ``rows`` as one trace: a polyline each, a gap between."""
    width = heights.shape[1]
    x = np.tile(np.append(np.arange(width, dtype=float), np.nan), len(rows))
    y = np.hstack([heights[rows], np.full((len(rows), 1), np.nan)]).ravel()
    labels = np.hstack([text[rows], np.full((len(rows), 1), "")]).ravel()
    return {"x": x.tolist(), "y": [None if np.isnan(v) else float(v) for v in y],
            "text": labels.tolist()}


def _frame(found: list[Axis]) -> tuple[dict, dict]:
    """The axes' vertical lines and their tick labels, as two traces (cheaper than shapes
    and annotations, which Plotly lays out one by one)."""
    lines_x, lines_y, tick_x, tick_y, tick_text = [], [], [], [], []
    for i, axis in enumerate(found):
        lines_x += [i, i, None]
        lines_y += [0, 1, None]
        for height, name in axis.ticks:
            tick_x.append(i)
            tick_y.append(height)
            tick_text.append(name)
    common = dict(type="scatter", showlegend=False, hoverinfo="skip")
    # the labels go on top of the trials' lines, a shadow of the background colour round them
    return (dict(common, x=lines_x, y=lines_y, mode="lines", line=dict(color=AXIS_LINE, width=1)),
            dict(common, x=tick_x, y=tick_y, mode="text", text=tick_text,
                 textposition="middle left", textfont=dict(size=10, shadow="auto")))


def parallel_figure(trials: pd.DataFrame, objective: str = "val_accuracy",
                    number: Callable[[str], str] = str) -> go.Figure | None:
    """Parallel coordinates of the completed trials (``number``: trial id -> the number shown
    to people); None with fewer than two completed trials."""
    done, found = axes(trials, objective)
    if len(done) < 2:
        return None
    better_high = objective_direction(objective).higher_is_better
    every = done["score"].to_numpy(dtype=float)
    index, styles = bands(every, better_high)
    drawn = drawn_rows(every, better_high)
    heights = np.column_stack([a.heights[drawn] for a in found])
    scores, index = every[drawn], index[drawn]
    ids = done["trial_id"].astype(str).to_numpy()[drawn].tolist()
    # hover: the trial, the axis' value, the score (on the objective's own axis, once)
    values = [[f"{a.label}: {a.shown[r]}<br>" for a in found[:-1]] + [""] for r in drawn]
    text = np.array([[f"trial {number(t)}<br>{value}{objective}: {scores[r]:.4f}"
                      for value in values[r]] for r, t in enumerate(ids)], dtype=object)
    frame, labels = _frame(found)
    traces = [frame]
    mode = "lines+markers" if len(drawn) <= MARKED else "lines"  # hover works on either
    for band, (label, colour) in enumerate(styles):
        rows = np.flatnonzero(index == band)
        if rows.size:
            traces.append(dict(type="scatter", mode=mode, name=label,
                               legendgroup=label, hovertemplate="%{text}<extra></extra>",
                               line=dict(color=colour, width=1.5), marker=dict(size=5),
                               opacity=0.8, **_polylines(rows, heights, text)))
    best = ranking.best_trial_id(trials, objective_direction(objective))  # the one rule
    if best is not None and str(best) in ids:
        traces.append(dict(type="scatter", mode="lines+markers",
                           name=f"best (trial {number(best)})",
                           hovertemplate="%{text}<extra></extra>", marker=dict(size=7),
                           line=dict(color=BEST_LINE, width=3),
                           **_polylines(np.array([ids.index(str(best))]), heights, text)))
    traces.append(labels)
    layout = dict(
        xaxis=dict(tickvals=list(range(len(found))), ticktext=[a.label for a in found],
                   side="top", tickangle=-20, range=[-0.7, len(found) - 0.7], showgrid=False,
                   zeroline=False),
        yaxis=dict(visible=False, range=[-0.06, 1.06]),
        legend=dict(title=dict(text=objective), orientation="h", y=-0.05),
        hovermode="closest", height=440, margin=dict(l=20, r=20, t=120, b=30))
    if len(drawn) < len(done):
        layout["title"] = dict(text=f"{TITLE}<br><sup>{len(drawn):,} of {len(done):,} completed "
                                    f"trials drawn: the best {BEST_DRAWN:,} and a random "
                                    f"{len(drawn) - BEST_DRAWN:,} of the rest</sup>")
    return go.Figure({"data": traces, "layout": layout})


def drawn_rows(scores: np.ndarray, better_high: bool, seed: int = 0) -> np.ndarray:
    """The rows whose lines are drawn, in their order: all up to ``DRAWN``, else the best
    ``BEST_DRAWN`` and a seeded sample of the others (the same trials at every redraw)."""
    if len(scores) <= DRAWN:
        return np.arange(len(scores))
    order = np.argsort(-scores if better_high else scores, kind="stable")
    rest = np.random.default_rng(seed).choice(order[BEST_DRAWN:], DRAWN - BEST_DRAWN,
                                              replace=False)
    return np.sort(np.concatenate([order[:BEST_DRAWN], rest]))
