"""Monitor page: live charts, counts and trial table of the current run (or any finished one).

Drawn once by this script; while the run trains, the live feed's script in the browser keeps
it up to date (:mod:`tuning_core.live.answers`: status, counts and table as HTML, the charts through
``Plotly.react`` on the charts drawn here, so zoom and legend choices stay). The session does
not rerun every second: ten people watching cost the server one build per new log line.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.common import state
from pages.common.live_chart import live_chart
from pages.views import monitor as view
from pages.views import monitor_table as table_view
from tuning_core.live import answers as feed
from tuning_core.live import content as run_content
from tuning_core.live.html import anchor, headline_html, part
from tuning_core.runs.rundir import RunDir
from tuning_core.search.lifecycle import folder_notice


def chart(content: run_content.MonitorContent, name: str) -> None:
    """One live chart, built now (the counts above are drawn first), with the feed's hash."""
    live_chart(content.figures[name], feed.CHART_PREFIX + name,
               feed.figure_spec(content, name).hash)


def cost_charts(content: run_content.MonitorContent) -> None:
    """The objective against each cost; for a large run, drawn when the user opens them (the
    label stays the same as the run grows: a new label would be a new expander, closed)."""
    if run_content.cost_charts_on_request(content):
        st.caption(f"Past {run_content.COST_CHARTS_AT_ONCE:,} completed trials they are drawn "
                   "when you open them; the Best model page draws the whole front.")
        box = st.expander("Draw the two charts", key=f"monitor_cost_{content.run}",
                          on_change="rerun")
        if box.open:
            with box:
                _cost_columns(content)
    else:
        _cost_columns(content)


def _cost_columns(content: run_content.MonitorContent) -> None:
    for column, axis in zip(st.columns(2), run_content.PARETO_AXES, strict=True):
        with column:
            chart(content, "pareto_" + axis)


def draw(run_dir: Path) -> None:
    """Status and counts, charts and the trial table of one run, as the feed keeps them."""
    run = run_dir.name
    status = st.empty()
    if feed.first_read_is_slow(run_dir):  # the headline while the log is read
        status.html(part("status", run, headline_html(run_dir)))
    content, _, parts = feed.monitor_parts(run_dir)
    url = feed.feed_url(feed.MONITOR_URL, run_dir)
    status.html(part("status", run, parts["status"]) + anchor(url, run, covers_sidebar=True))
    for name in ("objective", "learning_curves"):
        chart(content, name)
    left, right = st.columns([3, 2])
    with left:
        chart(content, "parallel")
    with right:
        chart(content, "importance")
    st.subheader("Objective against cost")
    st.caption("Each completed trial's model, measured once after the trial: the Pareto front "
               "(no other trial is both better and cheaper) in colour, the rest grey.")
    cost_charts(content)
    st.page_link("pages/best.py", label="Retrain a trial of the front (Best model page)",
                 icon=":material/trophy:")
    st.subheader("Trials")
    st.html(part("table", run, parts["table"]))
    table_view.show_all(content.table, run)


st.title("Monitor")
run = state.current_run()
if run is None:
    st.info("No run yet. Launch one on the Search page, or open one on the Runs page.")
else:
    if notice := folder_notice(RunDir(run)):  # the data folder edited since the search
        st.warning(notice, icon=":material/folder_off:")
    with state.engine_errors():
        view.show_notes(run)
    with state.engine_errors():
        draw(run)
