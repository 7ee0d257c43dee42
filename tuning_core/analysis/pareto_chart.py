"""The Pareto figure: the objective against a cost, the front drawn, the rest greyed.

Each point's ``customdata`` is ``[run, trial_id]``, so a page that lets the user select a
point knows which trial of which run to retrain. Past ``DOMINATED_DRAWN`` dominated trials a
seeded random sample of them is drawn (the front always whole) and the title says so: each
point carries its hover text, 1.1 MB a chart at 10,000 trials.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from tuning_core.analysis.charts import BEST_COLOR, FAINT, UIREVISION, empty_figure
from tuning_core.analysis.pareto import AXES, CostAxis, front_frame

DOMINATED_DRAWN = 500  # dominated trials drawn at most (a seeded sample beyond): each an
# SVG marker, 1,500 were 0.13-0.23 s of the browser's time per chart and draw


def front_figure(trials: pd.DataFrame, direction: str, objective: str, axis_name: str,
                 run: str = "") -> go.Figure:
    """One run's front (see :func:`frame_figure`)."""
    frame = front_frame(trials, direction, AXES[axis_name])
    return frame_figure(frame.assign(run=run) if run else frame, objective, axis_name)


def frame_figure(frame: pd.DataFrame, objective: str, axis_name: str) -> go.Figure:
    """The figure of a ``front_frame`` (with a ``run`` column): dominated trials faint, the
    front as a line of markers; hover says the trial, its score and its cost."""
    axis = AXES[axis_name]
    title = f"{objective} against {axis.label.split(' (')[0].lower()}"
    if frame.empty:
        return empty_figure(title, "No completed trial with a measured cost yet.")
    dominated = int((~frame["on_front"].astype(bool)).sum())
    if dominated > DOMINATED_DRAWN:
        frame = _sampled(frame)
        title += (f"<br><sup>the whole front and a random {DOMINATED_DRAWN:,} of "
                  f"{dominated:,} dominated trials</sup>")
    fig = go.Figure()
    for on_front, part in frame.groupby("on_front", sort=True):
        fig.add_trace(go.Scatter(
            x=part[axis.column].tolist(), y=part["score"].tolist(),
            customdata=part[["run", "trial_id"]].values.tolist(),
            mode="lines+markers" if on_front else "markers",
            line=dict(color=BEST_COLOR, shape="hv") if on_front else None,
            marker=dict(size=9 if on_front else 7, color=BEST_COLOR if on_front else FAINT),
            name="Pareto front" if on_front else "dominated",
            hovertext=[_hover(row, objective, axis) for row in part.itertuples()],
            hoverinfo="text"))
    fig.update_xaxes(title=axis.label, type="log" if axis.log else "linear")
    fig.update_yaxes(title=objective)
    fig.update_layout(title=title, uirevision=UIREVISION, height=340,
                      margin=dict(l=10, r=10, t=60, b=10), clickmode="event+select")
    return fig


def _sampled(frame: pd.DataFrame) -> pd.DataFrame:
    """The front and ``DOMINATED_DRAWN`` dominated rows (the same ones at every redraw), in
    the frame's order."""
    front = frame["on_front"].astype(bool)
    kept = frame[~front].sample(DOMINATED_DRAWN, random_state=0).index
    return frame[front | frame.index.isin(kept)]


def _hover(row: Any, objective: str, axis: CostAxis) -> str:
    """``row``: one of ``DataFrame.itertuples()``'s rows, its fields the frame's columns."""
    run = getattr(row, "run", "")
    cost = getattr(row, axis.column)
    shown = f"{cost:,.0f}" if axis.log else f"{cost:.2f} {axis.unit}"
    head = f"{run} · " if run else ""
    return f"{head}trial {row.number} ({row.trial_id})<br>{objective} {row.score:.4f}<br>{shown}"
