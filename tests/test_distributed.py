"""Distributed search: merged trial logs, worker records, and a real chief with workers."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tuning_core.ownership import OwnerInfo
from tuning_core.rundir import RunDir
from tuning_core.triallog import TrialLogWriter


def _trial(writer: TrialLogWriter, trial_id: str, worker: str, score: float) -> None:
    writer.write("trial_start", trial_id=trial_id, number=int(trial_id) + 1, worker=worker,
                 hyperparameters={"lr": 0.1})
    writer.write("epoch_end", trial_id=trial_id, execution=0, epoch=0, seconds=0.1,
                 metrics={"val_accuracy": score})
    writer.write("trial_end", trial_id=trial_id, status="completed", score=score, seconds=1.0)


def test_the_reader_merges_every_workers_log_once_with_its_worker(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.log_writer().write("search_start", tuner="random", max_trials=3)
    _trial(TrialLogWriter(run.worker_log_path("tuner0")), "0", "tuner0", 0.5)
    reader = run.reader()
    assert list(reader.trials()["worker"]) == ["tuner0"]
    _trial(TrialLogWriter(run.worker_log_path("tuner1")), "1", "tuner1", 0.7)
    _trial(TrialLogWriter(run.worker_log_path("tuner0")), "2", "tuner0", 0.6)
    trials = run.reader().trials().sort_values("trial_id")
    assert list(trials["worker"]) == ["tuner0", "tuner1", "tuner0"]
    assert list(trials["status"]) == ["completed"] * 3
    assert len(run.reader().epochs()) == 3
    from tuning_core.ranking import ranked_trials
    assert [t.trial_id for t in ranked_trials(run.reader().trials(), "max")] == ["1", "2", "0"]


def test_a_lost_trial_reads_interrupted_until_another_worker_reruns_it(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    dead = TrialLogWriter(run.worker_log_path("tuner0"))
    dead.write("trial_start", trial_id="0", number=1, worker="tuner0", hyperparameters={})
    dead.write("epoch_end", trial_id="0", execution=0, epoch=0, metrics={})
    time.sleep(0.01)
    run.log_writer().write("trial_lost", trial_id="0", worker="tuner0", requeued=True)
    assert run.reader().trials()["status"].tolist() == ["interrupted"]
    time.sleep(0.01)
    _trial(TrialLogWriter(run.worker_log_path("tuner1")), "0", "tuner1", 0.9)
    trials, epochs = run.reader().trials(), run.reader().epochs()
    assert trials["status"].tolist() == ["completed"] and trials["worker"].tolist() == ["tuner1"]
    assert len(epochs) == 1  # the dead attempt's epoch is not this trial's


def test_worker_ids_are_checked_and_records_carry_device_and_trial(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    lock = run.worker_lock("tuner0")
    lock.acquire(OwnerInfo.mine("worker", target=run.name, device="CPU 0"))
    try:
        lock.update_owner(trial="3")
        record = json.loads(lock.owner_path.read_text())
        assert record["device"] == "CPU 0" and record["trial"] == "3"
        assert run.worker_ids() == ["tuner0"]
    finally:
        lock.release()
    import pytest
    from tuning_core.errors import RunError
    with pytest.raises(RunError, match="worker id"):
        run.worker_log_path("../x")
