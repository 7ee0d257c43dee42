"""The chief's bookkeeping on a real KerasTuner oracle (no training): dead workers' trials,
live ones, and the oracle's lock after an error."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tuning_core.runs.locks import LockHolder
from tuning_core.runs.rundir import RunDir


def random_oracle(project: Path):
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hp.Int("units", 1, 100)
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_accuracy", "max"),
                                           max_trials=5, hyperparameters=hp)
    oracle._set_project_dir(str(project), "tuner")
    return oracle


def test_a_dead_workers_trial_is_requeued_once_then_failed(tmp_path: Path, monkeypatch) -> None:
    from tuning_core.core import control
    from tuning_core.distributed import chief as chief_module
    from tuning_core.distributed.chief import Chief

    monkeypatch.setattr(chief_module, "DEAD_GRACE_S", 0.0)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    oracle = random_oracle(run.path)
    chief = Chief(oracle, run, control.SearchControl())
    first = oracle.create_trial("tuner0")  # tuner0 holds no lock: it is dead
    chief._reap_dead(time.time())
    assert oracle.ongoing_trials == {} and oracle._retry_queue == [first.trial_id]
    again = oracle.create_trial("tuner1")  # another worker gets the same trial
    assert again.trial_id == first.trial_id
    chief._reap_dead(time.time())
    assert oracle.trials[first.trial_id].status == "FAILED" and oracle.ongoing_trials == {}
    saved = json.loads((run.path / "tuner" / "oracle.json").read_text())
    assert saved["ongoing_trials"] == {}  # a resume must not run it again
    events = [e["event"] for e in run.reader().events()]
    assert events == ["trial_lost", "trial_end"]
    assert run.reader().trials()["status"].tolist() == ["failed"]


def test_a_live_workers_trial_is_left_alone(tmp_path: Path) -> None:
    from tuning_core.core import control
    from tuning_core.distributed.chief import Chief

    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    oracle = random_oracle(run.path)
    chief = Chief(oracle, run, control.SearchControl())
    lock = run.worker_lock("tuner0")
    lock.acquire(LockHolder.mine("worker"))
    try:
        oracle.create_trial("tuner0")
        chief._reap_dead(time.time() + 60)
        assert "tuner0" in oracle.ongoing_trials
    finally:
        lock.release()


def test_an_oracle_error_does_not_leave_its_lock_held(tmp_path: Path) -> None:
    import threading

    from keras_tuner.src.engine import oracle as oracle_module

    from tuning_core.distributed.chief import unlocking

    oracle = random_oracle(tmp_path)

    @oracle_module.synchronized
    def broken(oracle) -> None:
        raise RuntimeError("Number of consecutive failures exceeded the limit of 3.")

    with pytest.raises(RuntimeError):
        unlocking(oracle, broken, oracle)
    other = threading.Thread(target=lambda: oracle.create_trial("tuner9"))
    other.start()
    other.join(5)
    assert not other.is_alive()  # without the repair it would wait for ever
