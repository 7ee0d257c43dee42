"""Presentation helpers of the Monitor page: log snapshot and the run's notes (the Best model
page reads its :func:`snapshot` too).

The Monitor's live content (counts, table, figures) is built by
:mod:`tuning_core.live.content` and drawn by ``pages/monitor.py`` (the feed:
:mod:`tuning_core.live.answers`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from tuning_core.runs.rundir import RunDir


def snapshot(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trials and epochs tables of a run, from the process's one reader of its log."""
    reader = RunDir(run_dir).reader()
    return reader.trials(), reader.epochs()


def show_notes(run_dir: Path) -> None:
    """The run's name, tags and notes, under the page title (edited on the Runs page)."""
    run = RunDir(run_dir)
    notes = run.notes()
    st.subheader(run.display_name(notes))
    if notes.tags:
        st.caption("Tags: " + ", ".join(notes.tags))
    if notes.notes:
        st.markdown(notes.notes)
