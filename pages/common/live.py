"""Live status: the polling interval, the sidebar, and the live feed's script on every page.

The sidebar and the Monitor body follow the live feed (:mod:`tuning_core.live.answers`):
drawn once by the script run, then kept up to date in the browser, with no rerun of the
session. The Search,
Runs and Best pages, whose live parts hold widgets, poll from ``st.fragment(run_every=...)``
only while a job trains in any process that shares the workspace (this server, the CLI,
another server or machine: their run locks say so), and rerun the whole page once when it
ends, so the finished state is drawn without a reload. The run's state in words lives in
:mod:`tuning_core.live.content` (re-exported here for the pages).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.common import feed
from tuning_core.core import workspace
from tuning_core.core.errors import TuningError
from tuning_core.live import answers, html
from tuning_core.live.content import describe, duration, planned_trials, progress_text  # noqa: F401
from tuning_core.runs.catalogue import active_runs
from tuning_core.runs.locks import LockHolder, machine_slot
from tuning_core.runs.rundir import RUN_FILE, RunDir

# The pages below rerun a fragment of each viewer's session per poll (about 20 ms of the
# server's CPU, taken from the search it shares the machine with: benchmark figure 11), while
# the sidebar's live line follows the feed every second on every page at no session cost. So
# a run's panel on Search and the retrain's bar on Best poll every 2 s, the Runs table every 5.
PANEL_SECONDS = 2.0
TABLE_SECONDS = 5.0
IDLE_SECONDS = 5.0  # while nothing trains: how soon a page notices a job or a run appear
_WAS_ACTIVE = "live.was_active"
_WORLD = "live.world"


def training_now() -> list[tuple[RunDir, LockHolder]]:
    """The runs being trained now by any process on the workspace, with their holders.

    Not cached: a page rerun right after a launch must see the new holder, or it would draw
    its live fragment without polling (a scan of the run locks costs about 0.1 ms).
    """
    return active_runs(workspace.runs_dir())


def slot_holder() -> LockHolder | None:
    """Who holds this machine's training slot (any process), or None when it is free."""
    return machine_slot().holder()


def poll_interval(seconds: float = PANEL_SECONDS) -> float | None:
    """``seconds`` between live redraws while any job trains anywhere, else None (no polling)."""
    return seconds if training_now() else None


def world_token() -> tuple:
    """What decides which parts of a page poll and what they show: the runs being trained
    anywhere, the jobs waiting in the queue, and the newest run. Costs a lock scan, a glob
    and one queue read."""
    runs_dir = workspace.runs_dir()
    waiting: tuple = ()
    dispatcher = html.registry().dispatcher
    if dispatcher is not None:
        try:
            waiting = tuple(job.id for job in dispatcher.queue.jobs())
        except TuningError:
            waiting = ("unreadable",)
    newest = max((p.parent.name for p in runs_dir.glob(f"*/{RUN_FILE}")), default="")
    return tuple(sorted(run.name for run, _ in active_runs(runs_dir))), waiting, newest


def watch_while_idle() -> None:
    """Rerun the whole page when a job starts or is queued anywhere, or a run appears, while
    nothing trains: the pages' live fragments poll only while something trains, and a page
    drawn before (no run yet, a job still queued, a search launched from the CLI or another
    server) would otherwise never start following it. Polls every ``IDLE_SECONDS`` while
    idle (one fragment run, ~20 ms, per viewer), not at all while a job trains (the pages'
    own fragments follow it then, and rerun the page when it ends)."""
    st.session_state[_WORLD] = world_token()

    @st.fragment(run_every=None if training_now() else IDLE_SECONDS)
    def idle_watch() -> None:
        token = world_token()
        if st.session_state.get(_WORLD) != token:
            st.session_state[_WORLD] = token
            st.rerun()

    with st.sidebar:
        idle_watch()


def rerun_once_when_idle() -> None:
    """Rerun the whole page once when the jobs that were training have ended (never loops)."""
    active = bool(training_now())
    was_active = st.session_state.get(_WAS_ACTIVE, False)
    st.session_state[_WAS_ACTIVE] = active
    if was_active and not active:
        st.rerun()


def sidebar(run_dir: Path | None) -> None:
    """The current run and its state, on every page; kept live by the feed's script
    (``pages/common/feed.py``), not by a rerun of this session."""
    with st.sidebar:
        st.html(html.part("sidebar", run_dir.name if run_dir else "",
                           html.sidebar_html(run_dir))
                + html.anchor(answers.feed_url(answers.SIDEBAR_URL, run_dir),
                               run_dir.name if run_dir else ""))
        feed_script()


def feed_script() -> None:
    """The feed's style and polling script (one hidden element; installs itself once)."""
    st.html("<style>[data-testid='stElementContainer']:has([data-live-script])"
            "{display:none}</style><span data-live-script></span>" + feed.script_html(),
            unsafe_allow_javascript=True)
