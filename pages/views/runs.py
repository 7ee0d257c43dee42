"""Presentation helpers of the Runs page: filters, the table, the notes editor, run actions.

The Compare page labels its runs with :func:`labels`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common import auth, state
from tuning_core.core import workspace
from tuning_core.core.states import RunStatus
from tuning_core.lab.permissions import Action
from tuning_core.runs import catalogue
from tuning_core.runs.catalogue import (
    RunSummary,
    delete_run,
    edit_notes,
    filter_runs,
    prune_run,
)
from tuning_core.runs.notes import MAX_NAME, MAX_NOTES, RunNotes, parse_tags

CONFIRM_DELETE = "runs.confirm_delete"
PAGE = "runs_page_number"
FLASH = "runs.flash"
ANY = "any"
LOCAL = "(local mode)"  # how a run without a lab owner is shown in the owner filter


def runs_table(infos: list[RunSummary]) -> pd.DataFrame:
    """One row per run, for people."""
    return pd.DataFrame([{
        "name": i.name, "tags": ", ".join(i.tags), "run": i.run.name, "owner": i.user,
        "status": i.state, "dataset": i.dataset, "tuner": i.tuner,
        "trained by": i.holder.describe() if i.holder else "",
        "trials": f"{i.trials_done}/{i.max_trials}",
        "best score": i.best_score, "objective": i.objective,
        "started": datetime.fromtimestamp(i.created),
        "disk (MB)": None if i.bytes is None else i.bytes / 1e6,
        "best model": i.has_best,
    } for i in infos])


def show_table(infos: list[RunSummary]) -> None:
    """The runs table with formatted numbers and dates."""
    st.dataframe(runs_table(infos), hide_index=True, width="stretch", column_config={
        "best score": st.column_config.NumberColumn(format="%.4f"),
        "disk (MB)": st.column_config.NumberColumn(format="%.1f"),
        "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})


def labels(infos: list[RunSummary]) -> dict[str, str]:
    """Folder name -> how a picker shows the run: "display name · folder" once it has a name."""
    return {i.run.name: i.run.name if i.name == i.run.name else f"{i.name} · {i.run.name}"
            for i in infos}


def _choice(col, label: str, values: list[str], key: str) -> str | None:
    picked = col.selectbox(label, [ANY, *sorted(set(values))], key=key)
    return None if picked == ANY else picked


def filters(infos: list[RunSummary]) -> dict:
    """Filter widgets (owner, status, dataset, tag, text); the chosen filters for filter_runs."""
    cols = st.columns([1, 1, 1, 1, 2])
    owner = _choice(cols[0], "Owner", [i.user or LOCAL for i in infos], "runs_filter_owner")
    status = _choice(cols[1], "Status", [i.status.value for i in infos], "runs_filter_status")
    dataset = _choice(cols[2], "Dataset", [i.dataset for i in infos], "runs_filter_dataset")
    tag = _choice(cols[3], "Tag", [t for i in infos for t in i.tags], "runs_filter_tag")
    text = cols[4].text_input("Search names, notes and tags", key="runs_filter_text")
    return dict(owner="" if owner == LOCAL else owner, tag=tag, dataset=dataset, text=text,
                status=RunStatus(status) if status else None)


def filtered(infos: list[RunSummary], chosen: dict) -> list[RunSummary]:
    """The runs that pass the chosen filters."""
    return filter_runs(infos, **chosen)


def page_number(matching: int) -> int:
    """Which page of the table to show (from 0): a number box once the runs that pass the
    filters fill more than one page (kept within the pages there are as the list changes)."""
    size = catalogue.PAGE_RUNS
    pages = max(1, -(-matching // size))
    if pages == 1:
        return 0
    if st.session_state.get(PAGE, 1) > pages:
        st.session_state[PAGE] = pages
    return int(st.number_input(f"Page (of {pages:,}, {size} runs a page)", 1, pages,
                               key=PAGE)) - 1


def pickable(page: list[RunSummary], matching: list[RunSummary],
             current: Path | None) -> list[RunSummary]:
    """The runs the picker offers: the page's, and first the followed run when it passes the
    filters but is on another page (paging does not change which run the pages follow)."""
    names = {i.run.name for i in page}
    followed = [i for i in matching if current is not None and i.run.path == current
                and i.run.name not in names]
    return followed + page


def _notes(info: RunSummary) -> RunNotes:
    with state.engine_errors():
        return info.run.notes()
    return RunNotes()  # unreadable: the error is shown, the editor starts empty


def notes_editor(info: RunSummary) -> None:
    """Name, notes and tags of the selected run; editable by its launcher or an admin."""
    notes = _notes(info)
    refused = auth.refused(Action.EDIT_NOTES, info.user)
    key = info.run.name
    with st.form(f"runs_notes:{key}", border=True):
        name = st.text_input("Name", notes.name, max_chars=MAX_NAME, disabled=bool(refused),
                             placeholder=info.run.name, key=f"runs_name:{key}")
        text = st.text_area("Notes", notes.notes, max_chars=MAX_NOTES, disabled=bool(refused),
                            key=f"runs_notes_text:{key}")
        tags = st.text_input("Tags (separated by commas)", ", ".join(notes.tags),
                             disabled=bool(refused), key=f"runs_tags:{key}")
        if notes.updated:
            st.caption(f"Last edited {datetime.fromtimestamp(notes.updated):%Y-%m-%d %H:%M}"
                       + (f" by {notes.updated_by}" if notes.updated_by else ""))
        if st.form_submit_button("Save notes", disabled=bool(refused), help=refused):
            with state.engine_errors():
                edit_notes(info.run.path, name, text, parse_tags(tags), auth.actor())
                st.session_state[FLASH] = f"Saved the notes of {info.run.name}."
                st.rerun()


def actions(info: RunSummary) -> None:
    """Open, resume, prune or delete the selected run."""
    registry = state.registry()
    st.page_link("pages/monitor.py", label="Open in Monitor", icon=":material/monitoring:")
    cols = st.columns(3)
    refused = auth.refused(Action.RESUME, info.user)
    if cols[0].button("Resume", disabled=not info.status.is_resumable() or bool(refused),
                      help=refused or "Continues an interrupted or stopped search; completed "
                                      "trials are kept."):
        with state.engine_errors():
            registry.resume(info.run.path, auth.actor())
            st.rerun()
    keep = cols[1].number_input("Checkpoints to keep", 1, 100, value=3, key="runs_keep")
    refused = auth.refused(Action.PRUNE, info.user)
    if cols[1].button("Prune checkpoints", disabled=info.status.is_active() or bool(refused),
                      help=refused):
        with state.engine_errors():
            result = prune_run(info.run.path, int(keep), auth.actor())
        st.session_state[FLASH] = (f"Removed {len(result.removed)} checkpoint(s), freed "
                                   f"{result.bytes_freed / 1e6:.1f} MB; kept {len(result.kept)}.")
        st.rerun()
    delete_section(cols[2], info)


def delete_section(col, info: RunSummary) -> None:
    """The delete button and its confirmation."""
    refused = auth.refused(Action.DELETE, info.user)
    if col.button("Delete run", disabled=info.status.is_active() or bool(refused), help=refused):
        st.session_state[CONFIRM_DELETE] = info.run.name
    if st.session_state.get(CONFIRM_DELETE) == info.run.name:
        size = "size not measured yet" if info.bytes is None else f"{info.bytes / 1e6:.1f} MB"
        st.warning(f"Delete {info.run.name} and everything in it ({size})? "
                   "This cannot be undone.")
        if st.button("Confirm delete", type="primary"):
            with state.engine_errors():
                delete_run(info.run.path, workspace.runs_dir(), auth.actor())
                st.session_state[CONFIRM_DELETE] = None
                state.select_run(None)
                st.session_state[FLASH] = f"Deleted {info.run.name}."
                st.rerun()
