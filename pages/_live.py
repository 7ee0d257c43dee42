"""Live status: how a run stands in words, the polling interval, and the sidebar.

Pages poll from ``st.fragment(run_every=...)`` only while a job trains in any process that
shares the workspace (this server, the CLI, another server or machine: their run locks say
so), and rerun the whole page once when it ends, so the finished state is drawn without a
reload.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages import _state
from tuning_core import workspace
from tuning_core.best import retrain_progress
from tuning_core.errors import TuningError
from tuning_core.jobs import Progress
from tuning_core.ownership import OwnerInfo, machine_slot
from tuning_core.rundir import RunDir
from tuning_core.runs import active_runs
from tuning_core.states import JobKind, RunStatus

POLL_SECONDS = 1.0  # a new epoch reaches every open page within about a second
_WAS_ACTIVE = "live.was_active"


def training_now() -> list[tuple[RunDir, OwnerInfo]]:
    """The runs being trained now by any process on the workspace, with their owners.

    Not cached: a page rerun right after a launch must see the new owner, or it would draw
    its live fragment without polling (a scan of the run locks costs about 0.1 ms).
    """
    return active_runs(workspace.runs_dir())


def training_owner() -> OwnerInfo | None:
    """Who holds this machine's training slot (any process), or None when it is free."""
    return machine_slot().holder()


def poll_interval() -> float | None:
    """Seconds between live redraws while any job trains anywhere, else None (no polling)."""
    return POLL_SECONDS if training_now() else None


def rerun_once_when_idle() -> None:
    """Rerun the whole page once when the jobs that were training have ended (never loops)."""
    active = bool(training_now())
    was_active = st.session_state.get(_WAS_ACTIVE, False)
    st.session_state[_WAS_ACTIVE] = active
    if was_active and not active:
        st.rerun()


def duration(seconds: float | None) -> str:
    """"1 h 02 min", "3 min 05 s", "12 s" or "unknown"."""
    if seconds is None:
        return "unknown"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def describe(progress: Progress) -> str:
    """The run's state in words: idle, running trial k/N, retraining, stopped, finished, failed."""
    if progress.kind is JobKind.RETRAIN:
        done, planned, _ = retrain_progress(progress.run_dir)
        return f"retraining the best model (epoch {done}/{planned or '?'}){_by(progress)}"
    if progress.state == RunStatus.STOPPING:
        return f"stopping after the current batch{_by(progress)}"
    if progress.state == RunStatus.RUNNING:
        current = progress.current_trial or progress.trials_done + 1
        return f"running trial {current}/{planned_trials(progress)}{_by(progress)}"
    if progress.state == RunStatus.NEW:
        return "idle (no trial yet)"
    return progress.state.label


def _by(progress: Progress) -> str:
    return f" · {progress.owner.describe()}" if progress.owner else ""


def planned_trials(progress: Progress) -> int | str:
    """N of "trial k/N": from the log once the search started, else from run.json."""
    if progress.max_trials:
        return progress.max_trials
    try:
        return RunDir(progress.run_dir).config().tuner.max_trials
    except TuningError:
        return "?"


def progress_text(progress: Progress) -> str:
    """"3 of 10 trials done · about 2 min 10 s left"."""
    text = f"{progress.trials_done} of {planned_trials(progress)} trials done"
    if progress.eta_s is not None and progress.state.is_active():
        text += f" · about {duration(progress.eta_s)} left"
    return text


def _sidebar_body(run_dir: Path | None) -> None:
    registry = _state.registry()
    if run_dir is None:
        st.caption("No run yet: design a search and launch it.")
    else:
        progress = registry.progress(run_dir)
        launcher = _state.run_owner(run_dir)
        st.caption("Current run" + (f" · launched by {launcher}" if launcher else ""))
        st.markdown(f"**{run_dir.name}**  \n{describe(progress)}")
        if progress.kind is JobKind.SEARCH:
            st.progress(progress.fraction, text=progress_text(progress))
        if progress.state == RunStatus.FAILED and progress.message:
            st.caption(progress.message)
    for run, owner in training_now():
        if run_dir is None or run.path != Path(run_dir).resolve():
            st.caption(f"Training now: {run.name} ({owner.kind}, {owner.describe()})")
    from pages import _queue_view  # imports this module: import it once both exist

    _queue_view.sidebar_summary()
    rerun_once_when_idle()


def sidebar(run_dir: Path | None) -> None:
    """The current run and its state, on every page; live while a job trains."""
    @st.fragment(run_every=poll_interval())
    def status() -> None:
        _sidebar_body(_state.current_run() or run_dir)

    with st.sidebar:
        status()
