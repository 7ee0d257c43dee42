"""Search page: tuner settings, launch with confirmation, stop, resume, and progress."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.common import auth, live, state
from pages.views import best_health as health
from pages.views import search_budget as budget
from pages.views import search_launch as view
from pages.views import search_queue as _queue
from pages.views import search_workers
from tuning_core.core.errors import TuningError
from tuning_core.core.states import JobKind
from tuning_core.lab.permissions import Action

CONFIRM = "search.confirm"
FLASH = "search.flash"


def launch(config) -> None:
    """Start the search and follow it (engine errors become messages)."""
    with state.engine_errors():
        run_dir = state.registry().start_search(config, auth.actor())
        state.select_run(run_dir)
        st.session_state[CONFIRM] = False
        st.session_state[FLASH] = f"Search started: {run_dir.name}. Watch it on the Monitor page."
        st.rerun()  # redraw the sidebar and start polling


def launch_section() -> None:
    """Settings, summary and the launch button with confirmation."""
    st.subheader("New search")
    name = st.text_input("Run name (optional)",
                         key=state.widget("search.name", state.run_name()))
    state.set_run_name(name)
    settings = view.tuner_form(state.tuner_settings())
    state.set_tuner_settings(settings)
    minutes = budget.budget_form()
    try:
        config = budget.fitted(view.build_config(name, settings), minutes)
        view.launch_summary(config)
        config.validate()
    except TuningError as error:
        st.error(str(error))
        return
    if not config.data_dir:
        st.warning("Choose an image folder on the Data page first.")
        return
    health.excluded_note(config.data_dir)
    holder, waiting = live.slot_holder(), _queue.waiting_count()
    if holder is not None or waiting:
        st.caption(f"This machine is busy ({holder.target if holder else 'starting a job'}); "
                   f"the search will wait behind {waiting} queued job(s) and start by itself.")
    refused = auth.refused(Action.LAUNCH)
    label = "Queue search" if holder is not None or waiting else "Launch search"
    if st.button(label, type="primary", disabled=bool(refused), help=refused):
        st.session_state[CONFIRM] = True
    if st.session_state.get(CONFIRM):
        st.info("Start this search? It runs in the background; closing the tab does not stop it.")
        left, right = st.columns(2)
        if left.button("Confirm launch", type="primary"):
            launch(config)
        if right.button("Cancel"):
            st.session_state[CONFIRM] = False
            st.rerun()


def run_controls(run_dir: Path) -> None:
    """State, progress, time per trial, Stop and Resume of a run."""
    registry = state.registry()
    progress = registry.progress(run_dir)
    st.markdown(f"**{run_dir.name}**: {live.describe(progress)}")
    st.progress(progress.fraction, text=live.progress_text(progress))
    estimate = view.trial_time(run_dir)
    if estimate:
        st.caption(f"Trials of this run took {estimate}.")
    budget.plan_panel(run_dir)
    if progress.message and not progress.state.is_active():
        st.caption(progress.message)
    search_workers.workers_panel(run_dir)
    left, right = st.columns(2)
    owner = state.run_owner(run_dir)
    if progress.state.is_active() and progress.kind is JobKind.SEARCH:
        if auth.actor().may(Action.STOP, owner) and left.button(
                "Stop", help="The running trial stops after its current batch, whichever "
                             "process trains it."):
            with state.engine_errors():
                registry.stop(run_dir, auth.actor())
                st.rerun()
    elif (progress.state.is_resumable() and auth.actor().may(Action.RESUME, owner)
          and right.button("Resume", help="Continues the search; completed trials are kept "
                                          "(queued when the machine is busy).")):
        with state.engine_errors():
            registry.resume(run_dir, auth.actor())
            st.rerun()
    live.rerun_once_when_idle()


@st.fragment(run_every=live.poll_interval())
def current_run_panel() -> None:
    """The current run's panel, live while a job trains."""
    run_dir = state.current_run()
    if run_dir is None:
        st.caption("No run yet.")
        return
    with state.engine_errors():
        run_controls(run_dir)


st.title("Search")
if st.session_state.get(FLASH):
    st.success(st.session_state.pop(FLASH))
st.subheader("Current run")
current_run_panel()
st.subheader("Queue")
_queue.queue_panel()
launch_section()
