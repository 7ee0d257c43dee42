"""Background tasks: one at a time per kind and run, their end or failure kept for the pages."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tuning_core.core.background import Tasks, TaskStatus
from tuning_core.core.errors import RunError


def test_a_second_start_while_running_is_refused_and_the_end_is_kept(tmp_path: Path):
    tasks, release = Tasks(), threading.Event()
    assert tasks.start("explain", tmp_path, lambda: release.wait(10))
    assert not tasks.start("explain", tmp_path, lambda: None)  # the same task, still running
    assert tasks.start("health", tmp_path, lambda: None)  # another kind runs beside it
    assert tasks.state("explain", tmp_path).status is TaskStatus.RUNNING
    release.set()
    assert tasks.wait("explain", tmp_path, timeout=10)
    state = tasks.state("explain", tmp_path)
    assert state.status is TaskStatus.DONE and state.ended >= state.started
    assert tasks.state("explain", tmp_path / "other") is None


def test_a_failure_keeps_its_message(tmp_path: Path):
    tasks = Tasks()

    def fail() -> None:
        raise RunError("the test images are gone")

    tasks.start("explain", tmp_path, fail)
    tasks.wait("explain", tmp_path, timeout=10)
    state = tasks.state("explain", tmp_path)
    assert state.status is TaskStatus.FAILED and state.message == "the test images are gone"


def test_a_health_check_is_refused_while_the_machine_trains(tmp_path: Path, image_folder):
    from tests.pages.support import make_run
    from tuning_core.model.health import start_health
    from tuning_core.runs.locks import LockHolder, machine_slot

    run = make_run(tmp_path / "runs", image_folder)
    slot = machine_slot()
    slot.acquire(LockHolder.mine("search", target="another run"))
    try:
        with pytest.raises(RunError, match=r"this machine trains now .*search"):
            start_health(run, tasks=Tasks())
    finally:
        slot.release()
