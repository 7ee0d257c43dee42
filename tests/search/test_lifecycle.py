"""How a search ends when the disk fills: a stop with reason disk full, never a failure or a
raise, so freeing space and resuming go on (issue 27)."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from tuning_core.core import control, diskspace
from tuning_core.core.control import SearchHalted
from tuning_core.core.errors import DiskFullError, SettingsError
from tuning_core.core.states import SearchEnd
from tuning_core.data.dataset import ImageConfig
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.search import lifecycle
from tuning_core.space.presets import get_preset

NO_SPACE = OSError(errno.ENOSPC, "No space left on device")


def _run(runs: Path, data: Path) -> RunDir:
    config = RunConfig(data_dir=str(data), space=get_preset("small"),
                       image=ImageConfig(16, "rgb"),
                       tuner=TunerSettings(tuner="random", max_trials=2))
    return RunDir.create(runs, config)


def _end(run: RunDir) -> dict:
    return json.loads(run.log_path.read_text().splitlines()[-1])


@pytest.mark.parametrize("error", [NO_SPACE, SearchHalted(diskspace.REASON),
                                   DiskFullError("disk full: 0.1 MB free on /x", 100_000, "/x")])
def test_a_full_disk_ends_the_search_as_stopped_with_its_reason(
        tmp_path: Path, image_folder: Path, error: Exception) -> None:
    run = _run(tmp_path / "runs", image_folder)
    with lifecycle.search_lifecycle(run):
        raise error
    end = _end(run)
    assert (end["status"], end["reason"]) == (SearchEnd.STOPPED.value, diskspace.REASON)
    assert end["message"].startswith("disk full: ") and " MB free on " in end["message"]
    assert run.reader().search_status == SearchEnd.STOPPED.value


def test_a_trial_that_found_the_disk_full_stops_a_search_that_had_no_trial_left(
        tmp_path: Path, image_folder: Path) -> None:
    run = _run(tmp_path / "runs", image_folder)
    with lifecycle.search_lifecycle(run):
        control.request_stop(str(run.path), diskspace.REASON)  # as the last trial's hook does
    assert _end(run)["reason"] == diskspace.REASON


def test_other_ends_keep_their_status_and_no_reason(tmp_path: Path, image_folder: Path) -> None:
    run = _run(tmp_path / "runs", image_folder)
    with lifecycle.search_lifecycle(run):
        raise SettingsError("bad settings")
    assert _end(run)["status"] == SearchEnd.FAILED.value and "reason" not in _end(run)
    with lifecycle.search_lifecycle(run):
        raise SearchHalted(SearchEnd.BUDGET.value)
    assert _end(run)["status"] == SearchEnd.BUDGET.value and "reason" not in _end(run)


def test_an_end_line_that_does_not_fit_leaves_no_error_in_the_thread(
        tmp_path: Path, image_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run(tmp_path / "runs", image_folder)
    lines = run.log_path.read_text() if run.log_path.exists() else ""

    def full(*args: object, **kwargs: object) -> None:
        raise NO_SPACE

    with lifecycle.search_lifecycle(run):
        monkeypatch.setattr("tuning_core.runs.triallog.TrialLogWriter.write", full)
        raise NO_SPACE
    assert "search_end" not in run.log_path.read_text().removeprefix(lines)
    assert control.get(str(run.path)) is None  # its control is forgotten all the same
