"""The job registry running real (tiny) searches in its background thread."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import pytest

from tuning_core.core.errors import JobBusyError, RunError, SettingsError
from tuning_core.core.states import RunStatus
from tuning_core.data.dataset import ImageConfig
from tuning_core.jobs.registry import JobRegistry
from tuning_core.runs.catalogue import list_runs
from tuning_core.runs.pruning import checkpoint_count
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.runs.triallog import TrialLogReader
from tuning_core.space.presets import get_preset


def read_log(run_dir: Path) -> TrialLogReader:
    reader = TrialLogReader(RunDir(run_dir).log_path)
    reader.poll()
    return reader

pytestmark = pytest.mark.training


def _config(data: Path, **tuner: object) -> RunConfig:
    settings = dict(tuner="random", max_trials=2, epochs=1, patience=0)
    settings.update(tuner)
    return RunConfig(data_dir=str(data), space=get_preset("small"),
                     image=ImageConfig(16, "rgb"), tuner=TunerSettings(**settings))


def _events(run_dir: Path, name: str) -> list[dict]:
    return [e for e in read_log(run_dir).events() if e["event"] == name]


def _wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.time() + timeout
    while not predicate():
        assert time.time() < end, "timed out waiting"
        time.sleep(0.05)


def test_two_trial_search_through_the_job_thread(image_folder: Path, tmp_path: Path) -> None:
    registry = JobRegistry(tmp_path / "runs")
    run_dir = registry.start_search(_config(image_folder))
    assert registry.active_run() == run_dir
    assert registry.wait(timeout=300)
    progress = registry.progress(run_dir)
    assert progress.state is RunStatus.FINISHED and progress.trials_done == 2
    assert progress.fraction == 1.0
    trials = read_log(run_dir).trials()
    assert trials["status"].tolist() == ["completed", "completed"]
    assert len(read_log(run_dir).epochs()) == 2
    saved = json.loads((run_dir / "run.json").read_text())
    assert saved["tuner"]["max_trials"] == 2 and "tensorflow" in saved["versions"]
    split = json.loads((run_dir / "split.json").read_text())
    assert set(split) >= {"train", "val", "test", "classes"}
    info = list_runs(tmp_path / "runs")[0]
    assert info.trials_done == 2 and info.bytes > 0 and info.best_score is not None


def test_second_start_is_refused_while_one_trains(image_folder: Path, tmp_path: Path) -> None:
    registry = JobRegistry(tmp_path / "runs")
    registry.start_search(_config(image_folder, max_trials=1))
    with pytest.raises(JobBusyError, match="training slot is held by pid"):
        registry.start_search(_config(image_folder, max_trials=1))
    registry.wait(timeout=300)


def test_invalid_settings_are_refused_before_any_folder_is_made(image_folder: Path,
                                                                tmp_path: Path) -> None:
    registry = JobRegistry(tmp_path / "runs")
    with pytest.raises(SettingsError, match="max_trials"):
        registry.start_search(_config(image_folder, max_trials=0))
    assert list((tmp_path / "runs").iterdir()) == []


def test_stop_in_the_middle_ends_the_trial_at_a_batch(image_folder: Path, tmp_path: Path) -> None:
    registry = JobRegistry(tmp_path / "runs")
    run_dir = registry.start_search(_config(image_folder, max_trials=5, epochs=200))
    _wait_for(lambda: len(_events(run_dir, "epoch_end")) >= 1)
    assert registry.stop(run_dir) is True
    assert registry.wait(timeout=120)
    assert len(_events(run_dir, "trial_start")) == 1  # no further trial started
    assert len(_events(run_dir, "epoch_end")) < 200
    assert _events(run_dir, "search_end")[-1]["status"] == "stopped"
    assert read_log(run_dir).trials()["status"].tolist() == ["stopped"]
    assert registry.progress(run_dir).state is RunStatus.STOPPED


def test_resume_after_restart_keeps_completed_trials(image_folder: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    registry = JobRegistry(runs)
    run_dir = registry.start_search(_config(image_folder, max_trials=3))
    _wait_for(lambda: len(_events(run_dir, "trial_end")) >= 1)
    registry.stop(run_dir)
    registry.wait(timeout=120)
    done = _events(run_dir, "trial_end")
    # A killed process leaves no search_end line: remove it to simulate one.
    log = run_dir / "trials.jsonl"
    log.write_text("".join(line + "\n" for line in log.read_text().splitlines()
                           if '"search_end"' not in line))
    fresh = JobRegistry(runs)  # a new process's registry
    assert fresh.progress(run_dir).state is RunStatus.INTERRUPTED
    fresh.resume(run_dir)
    assert fresh.wait(timeout=300)
    starts = _events(run_dir, "trial_start")
    assert [e["trial_id"] for e in starts].count(done[0]["trial_id"]) == 1  # not trained again
    assert fresh.progress(run_dir).trials_done == 3
    assert fresh.progress(run_dir).state is RunStatus.FINISHED
    with pytest.raises(RunError, match="only an interrupted, stopped, failed or new run"):
        fresh.resume(run_dir)


def test_crashing_trials_fail_with_message_and_abort_after_limit(
        image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuning_core.search import hypermodel

    def broken(self, hp, model, data, *args, **kwargs):
        raise ValueError("negative dimension size")

    monkeypatch.setattr(hypermodel.CNNHyperModel, "fit", broken)
    registry = JobRegistry(tmp_path / "runs")
    run_dir = registry.start_search(_config(image_folder, max_trials=5, max_consecutive_failed=2))
    registry.wait(timeout=300)
    ends = _events(run_dir, "trial_end")
    assert [e["status"] for e in ends] == ["failed", "failed"]
    assert "negative dimension size" in ends[0]["error"]
    end = _events(run_dir, "search_end")[-1]
    assert end["status"] == "failed" and "consecutive" in end["message"]
    assert "negative dimension size" in end["message"]
    assert registry.progress(run_dir).state is RunStatus.FAILED


def test_diverged_trial_is_failed_not_best(
        image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuning_core.search import hypermodel

    def diverging(self, hp, model, data, *args, **kwargs):
        history = keras.callbacks.History()
        history.history = {"loss": [float("nan")], "val_accuracy": [float("nan")]}
        return history

    monkeypatch.setattr(hypermodel.CNNHyperModel, "fit", diverging)
    registry = JobRegistry(tmp_path / "runs")
    run_dir = registry.start_search(_config(image_folder, max_trials=1))
    registry.wait(timeout=300)
    end = _events(run_dir, "trial_end")[0]
    assert end["status"] == "failed" and "diverged" in end["error"]


def test_time_budget_ends_search_like_a_stop(image_folder: Path, tmp_path: Path) -> None:
    registry = JobRegistry(tmp_path / "runs")
    run_dir = registry.start_search(_config(image_folder, max_trials=50, max_minutes=0.005))
    registry.wait(timeout=300)
    assert _events(run_dir, "search_end")[-1]["status"] == "budget"
    assert len(_events(run_dir, "trial_start")) < 50
    assert registry.progress(run_dir).state is RunStatus.BUDGET


def test_pruning_keeps_k_checkpoints_as_trials_end(image_folder: Path, tmp_path: Path) -> None:
    registry = JobRegistry(tmp_path / "runs")
    run_dir = registry.start_search(_config(image_folder, max_trials=4, keep_top=2))
    registry.wait(timeout=300)
    assert len(_events(run_dir, "trial_end")) == 4
    assert checkpoint_count(run_dir / "tuner") == 2


def test_hyperband_prunes_when_the_search_ends(image_folder: Path, tmp_path: Path) -> None:
    registry = JobRegistry(tmp_path / "runs")
    run_dir = registry.start_search(_config(image_folder, tuner="hyperband", epochs=3,
                                            max_trials=6, keep_top=1))
    registry.wait(timeout=300)
    assert _events(run_dir, "search_end")[-1]["status"] == "finished"
    assert len(_events(run_dir, "trial_end")) == 6  # brackets repeat up to max_trials
    assert checkpoint_count(run_dir / "tuner") == 1
