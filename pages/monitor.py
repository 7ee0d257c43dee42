"""Monitor page: live charts and trial table of the current run (or any finished one).

The fragment below reruns every two seconds only while a job trains; each tick reads only the
lines appended to the trial log. Charts are drawn with ``_plotly.live_chart`` under stable keys,
so a redraw with new data keeps the user's zoom and legend choices (streamlit 1.67 alone loses
them; see pages/_plotly.py).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages import _live, _state
from pages import _budget_view as budget
from pages import _monitor_view as view
from pages._plotly import live_chart
from tuning_core.rundir import RunDir


def chart(fig, name: str) -> None:
    """Draw a figure under its stable key, keeping the user's zoom across redraws."""
    live_chart(fig, f"monitor_{name}")


def draw(run_dir: Path, objective: str) -> None:
    """Counts, charts and the trial table of one run."""
    trials, figures = view.figures(run_dir, objective)
    progress = _state.registry().progress(run_dir)
    st.markdown(f"**{run_dir.name}**: {_live.describe(progress)}")
    if trials.empty:
        st.info("No trial has started yet. This page fills in as the search runs.")
        return
    ranked = RunDir(run_dir).best_trials()
    view.show_counts(trials, ranked[0].score if ranked else None, objective)
    view.show_chance(run_dir, trials)
    budget.plan_panel(run_dir)
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
        view.show_notes(run)
    with _state.engine_errors():
        live(run, RunDir(run).config().tuner.objective)
