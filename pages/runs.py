"""Runs page: every run in the workspace; open, resume, prune or delete one."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from pages import _auth, _live, _state
from tuning_core import workspace
from tuning_core.permissions import Action
from tuning_core.runs import RunSummary, delete_run, list_runs, prune_run

CONFIRM_DELETE = "runs.confirm_delete"
FLASH = "runs.flash"


def runs_table(infos: list[RunSummary]) -> pd.DataFrame:
    """One row per run, for people."""
    return pd.DataFrame([{
        "run": i.run.name, "owner": i.user, "status": i.status.label, "tuner": i.tuner,
        "trained by": i.owner.describe() if i.owner else "",
        "trials": f"{i.trials_done}/{i.max_trials}",
        "best score": i.best_score, "objective": i.objective,
        "started": datetime.fromtimestamp(i.created), "disk (MB)": i.bytes / 1e6,
        "best model": i.has_best,
    } for i in infos])


def on_pick() -> None:
    """Follow the run picked in the select box."""
    _state.select_run(_state.run_path(st.session_state.get("runs_pick")))
    st.session_state[CONFIRM_DELETE] = None


def actions(info: RunSummary) -> None:
    """Open, resume, prune or delete the selected run."""
    registry = _state.registry()
    st.page_link("pages/monitor.py", label="Open in Monitor", icon=":material/monitoring:")
    cols = st.columns(3)
    refused = _auth.refused(Action.RESUME, info.user)
    if cols[0].button("Resume", disabled=not info.status.is_resumable() or bool(refused),
                      help=refused or "Continues an interrupted or stopped search; completed "
                                      "trials are kept."):
        with _state.engine_errors():
            registry.resume(info.run.path, _auth.actor())
            st.rerun()
    keep = cols[1].number_input("Checkpoints to keep", 1, 100, value=3, key="runs_keep")
    refused = _auth.refused(Action.PRUNE, info.user)
    if cols[1].button("Prune checkpoints", disabled=info.status.is_active() or bool(refused),
                      help=refused):
        with _state.engine_errors():
            result = prune_run(info.run.path, int(keep), _auth.actor())
        st.session_state[FLASH] = (f"Removed {len(result.removed)} checkpoint(s), freed "
                                   f"{result.bytes_freed / 1e6:.1f} MB; kept {len(result.kept)}.")
        st.rerun()
    delete_section(cols[2], info)


def delete_section(col, info: RunSummary) -> None:
    """The delete button and its confirmation."""
    refused = _auth.refused(Action.DELETE, info.user)
    if col.button("Delete run", disabled=info.status.is_active() or bool(refused), help=refused):
        st.session_state[CONFIRM_DELETE] = info.run.name
    if st.session_state.get(CONFIRM_DELETE) == info.run.name:
        st.warning(f"Delete {info.run.name} and everything in it "
                   f"({info.bytes / 1e6:.1f} MB)? This cannot be undone.")
        if st.button("Confirm delete", type="primary"):
            with _state.engine_errors():
                delete_run(info.run.path, workspace.runs_dir(), _auth.actor())
                st.session_state[CONFIRM_DELETE] = None
                _state.select_run(None)
                st.session_state[FLASH] = f"Deleted {info.run.name}."
                st.rerun()


st.title("Runs")
if st.session_state.get(FLASH):
    st.success(st.session_state.pop(FLASH))
infos = list_runs(workspace.runs_dir())
if not infos:
    st.info("No runs yet. Launch a search on the Search page.")
    st.stop()


@st.fragment(run_every=_live.poll_interval())
def live_table() -> None:
    """The runs table, redrawn every few seconds while any process trains a run."""
    st.dataframe(runs_table(list_runs(workspace.runs_dir())), hide_index=True, width="stretch",
                 column_config={
                     "best score": st.column_config.NumberColumn(format="%.4f"),
                     "disk (MB)": st.column_config.NumberColumn(format="%.1f"),
                     "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})
    _live.rerun_once_when_idle()


live_table()
names = [i.run.name for i in infos]
current: Path | None = _state.current_run()
index = names.index(current.name) if current is not None and current.name in names else 0
st.session_state["runs_pick"] = names[index]
st.selectbox("Run (the other pages follow it)", names, key="runs_pick", on_change=on_pick)
actions(infos[index])
