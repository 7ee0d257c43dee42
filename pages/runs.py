"""Runs page: every run in the workspace; find one by its owner, status, dataset, tags or
words; name it and write notes; open, resume, prune or delete it."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.common import live, state
from pages.common.search_script import script_download
from pages.views import runs as view
from tuning_core.core import workspace
from tuning_core.runs.catalogue import filter_runs, list_runs, runs_page


def on_pick() -> None:
    """Follow the run picked in the select box."""
    state.select_run(state.run_path(st.session_state.get("runs_pick")))
    st.session_state[view.CONFIRM_DELETE] = None


st.title("Runs")
if st.session_state.get(view.FLASH):
    st.success(st.session_state.pop(view.FLASH))
LISTED = "runs.listed"  # the script run's list, for the live table's first draw in that run
infos = list_runs(workspace.runs_dir(), wait_for_size=False)  # sizes walked in the background
st.session_state[LISTED] = infos
if not infos:
    st.info("No runs yet. Launch a search on the Search page.")
    st.stop()
chosen = view.filters(infos)
matching = filter_runs(infos, **chosen)
number = view.page_number(len(matching))  # the table shows one page of them


@st.fragment(run_every=live.poll_interval(live.TABLE_SECONDS))
def live_table() -> None:
    """The runs table's page, redrawn every few seconds while any process trains a run: in
    a script run with the script's list (one listing per page run), alone with a new one."""
    listed = st.session_state.pop(LISTED, None)
    if listed is None:
        listed = list_runs(workspace.runs_dir(), wait_for_size=False)
    shown = runs_page(listed, number, **chosen)
    view.show_table(shown.runs)
    st.caption(shown.describe())
    live.rerun_once_when_idle()


live_table()
if not matching:
    st.info("No run matches these filters.")
    st.stop()
# the picker offers the page's runs, and the followed run while it passes the filters
infos = view.pickable(runs_page(matching, number).runs, matching, state.current_run())
names = [i.run.name for i in infos]
current: Path | None = state.current_run()
if current is None or current.name not in names:
    # the picker says which run the other pages follow: keep the two in agreement
    state.select_run(infos[0].run.path)
    current = infos[0].run.path
index = names.index(current.name)
st.session_state["runs_pick"] = names[index]
labels = view.labels(infos)
st.selectbox("Run (the other pages follow it)", names, key="runs_pick", on_change=on_pick,
             format_func=labels.get)
st.subheader("Name, notes and tags")
view.notes_editor(infos[index])
view.actions(infos[index])
with state.engine_errors():
    script_download(infos[index].run.path, key="runs_script")
