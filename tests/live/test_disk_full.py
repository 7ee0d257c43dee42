"""What the Monitor, the sidebar and the queue say of a run whose disk filled: "disk full"
with the free space and where, not a bare "stopped" (issue 27)."""

from __future__ import annotations

from pathlib import Path

from tests.pages.support import make_run
from tuning_core.core import diskspace
from tuning_core.core.states import RunStatus
from tuning_core.core.workspace import runs_dir
from tuning_core.jobs import dispatcher
from tuning_core.jobs.records import JobState
from tuning_core.jobs.registry import run_progress
from tuning_core.live import content as run_content
from tuning_core.runs.rundir import RunDir

MESSAGE = "disk full: 0.7 MB free on /data; free space there and resume the run"


def _stopped(run_dir: Path, **end: object) -> RunDir:
    run = RunDir(run_dir)
    run.log_writer().write("search_end", status="stopped", **end)
    return run


def test_a_run_stopped_by_a_full_disk_says_so_with_the_free_space(
        workspace: Path, image_folder: Path) -> None:
    run = _stopped(make_run(runs_dir(), image_folder, finished=False),
                   message=MESSAGE, reason=diskspace.REASON)
    progress = run_progress(run)
    assert progress.state is RunStatus.STOPPED and progress.reason == diskspace.REASON
    assert run_content.describe(progress) == MESSAGE  # the Monitor's and the sidebar's words
    assert dispatcher._outcome(run, None) == (JobState.FINISHED, MESSAGE)  # the queue's


def test_a_plain_stop_still_reads_stopped(workspace: Path, image_folder: Path) -> None:
    run = _stopped(make_run(runs_dir(), image_folder, finished=False), message=None)
    progress = run_progress(run)
    assert progress.reason is None and run_content.describe(progress) == "stopped"
    assert dispatcher._outcome(run, None) == (JobState.FINISHED, "stopped")
