"""Monitor page: live charts and trial table of the current run (or any finished one).

The fragment below reruns every two seconds only while a job trains; each tick reads only the
lines appended to the trial log. Figures keep a constant ``uirevision`` and stable keys, so a
redraw keeps the user's zoom and legend choices.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages import _live, _state
from pages import _monitor_view as view
from tuning_core import charts
from tuning_core.runs import load_config

FREEZE = "monitor_freeze"


def chart(fig, name: str) -> None:
    """Draw a figure under its stable key."""
    st.plotly_chart(fig, key=f"monitor_{name}", width="stretch")


def figures_for(run_dir: Path, trials, epochs, objective: str) -> dict:
    """This tick's figures, or the frozen ones while "Freeze charts" is on.

    Streamlit 1.67 remounts a chart whose figure changed, which drops the user's zoom despite
    the constant uirevision; an unchanged figure keeps it. Freezing keeps the figures unchanged.
    """
    frozen = view.frozen_figures(run_dir)
    if st.session_state.get(FREEZE) and frozen is not None:
        return frozen
    figures = charts.monitor_figures(trials, epochs, objective)
    figures["importance"] = charts.importance_figure(view.importance(run_dir, trials))
    view.keep_figures(run_dir, figures)
    return figures


def draw(run_dir: Path, objective: str) -> None:
    """Counts, charts and the trial table of one run."""
    trials, epochs = view.shared_log(run_dir).snapshot()
    progress = _state.registry().progress(run_dir)
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.markdown(f"**{run_dir.name}**: {_live.describe(progress)}")
    right.toggle("Freeze charts", key=FREEZE, help="Stops redrawing the charts so zoom and "
                 "legend choices stay while the search runs; the table keeps updating.")
    if trials.empty:
        st.info("No trial has started yet. This page fills in as the search runs.")
        return
    best_id = charts.best_trial_id(trials, objective)
    best = None if best_id is None else float(
        trials.loc[trials["trial_id"] == best_id, "score"].iloc[0])
    view.show_counts(trials, best, objective)
    figures = figures_for(run_dir, trials, epochs, objective)
    chart(figures["objective"], "objective")
    chart(figures["learning_curves"], "learning_curves")
    left, right = st.columns([3, 2])
    with left:
        chart(figures["parallel"], "parallel")
    with right:
        chart(figures["importance"], "importance")
    st.subheader("Trials")
    view.show_table(trials)


@st.fragment(run_every=_live.poll_interval())
def live(run_dir: Path, objective: str) -> None:
    """The Monitor body, rerun every few seconds while a job trains."""
    draw(run_dir, objective)
    _live.rerun_once_when_idle()


st.title("Monitor")
run = _state.current_run()
if run is None:
    st.info("No run yet. Launch one on the Search page, or open one on the Runs page.")
else:
    with _state.engine_errors():
        live(run, load_config(run).tuner.objective)
