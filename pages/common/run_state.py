"""The run every page follows, the process-wide job registry, and engine errors as messages.

The job registry is one per process (``tuning_core.jobs.registry.get_registry``), so a search
outlives its browser tab. The selected run lives in the URL (``?run=<folder name>``) so a reload
returns to it, and in the session so a page change keeps it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from tuning_core.core import workspace
from tuning_core.core.errors import TuningError
from tuning_core.jobs.registry import JobRegistry
from tuning_core.live import html
from tuning_core.runs.catalogue import active_runs, launcher, run_named
from tuning_core.runs.rundir import RUN_FILE

RUN_PARAM = "run"
RUN = "run.current"


def registry() -> JobRegistry:
    """The process-wide job registry of the workspace's runs folder (the live feed's too)."""
    return html.registry()


def run_path(name: str | None) -> Path | None:
    """The run folder called ``name`` in the workspace, or None when there is none."""
    return run_named(workspace.runs_dir(), name)


def select_run(run_dir: Path | None) -> None:
    """Make ``run_dir`` the run every page follows, and put it in the URL."""
    st.session_state[RUN] = run_dir.name if run_dir else None
    if run_dir:
        st.query_params[RUN_PARAM] = run_dir.name
    elif RUN_PARAM in st.query_params:
        del st.query_params[RUN_PARAM]


def _newest_run() -> Path | None:
    runs = sorted(p.parent for p in workspace.runs_dir().glob(f"*/{RUN_FILE}"))
    return runs[-1] if runs else None


def _active_elsewhere() -> Path | None:
    active = active_runs(workspace.runs_dir())
    return active[0][0].path if active else None


def sync_run_with_url() -> Path | None:
    """The current run: from the URL, else the session, else the active one, else the newest.

    Called once per script run by ``app.py``; writes the answer back to both places, so a
    reload (URL only) and a page change (session only) both keep it.
    """
    chosen = run_path(st.query_params.get(RUN_PARAM)) or run_path(st.session_state.get(RUN))
    chosen = chosen or registry().active_run() or _active_elsewhere() or _newest_run()
    if chosen is not None and (st.session_state.get(RUN) != chosen.name
                               or st.query_params.get(RUN_PARAM) != chosen.name):
        select_run(chosen)
    return chosen


def run_owner(run_dir: Path) -> str:
    """Who launched the run (lab mode), "" for runs made in local mode or unreadable ones."""
    return launcher(run_dir)


def current_run() -> Path | None:
    """The run the pages follow (set by :func:`sync_run_with_url` or :func:`select_run`)."""
    return run_path(st.session_state.get(RUN))


@contextmanager
def engine_errors() -> Iterator[None]:
    """Show an engine error as a message (never a traceback); the page goes on below."""
    try:
        yield
    except TuningError as error:
        st.error(str(error))
