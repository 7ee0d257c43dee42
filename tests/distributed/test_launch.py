"""Distributed search: merged trial logs, worker records, and a real chief with workers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_image_folder
from tuning_core.core.errors import RunError
from tuning_core.runs.locks import LockHolder
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.triallog import TrialLogWriter


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
    from tuning_core.runs.ranking import ranked_trials
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
    lock.acquire(LockHolder.mine("worker", target=run.name, device="CPU 0"))
    try:
        lock.update_holder(trial="3")
        record = json.loads(lock.holder_path.read_text())
        assert record["device"] == "CPU 0" and record["trial"] == "3"
        assert run.worker_ids() == ["tuner0"]
    finally:
        lock.release()
    with pytest.raises(RunError, match="worker id"):
        run.worker_log_path("../x")


def test_local_workers_one_per_gpu_else_per_core_group() -> None:
    from tuning_core.distributed.launch import plan_local_workers

    gpus = plan_local_workers(0, gpus=["0", "3"])
    assert [(w.worker, w.device, w.env) for w in gpus] == [
        ("tuner0", "GPU 0", {"CUDA_VISIBLE_DEVICES": "0"}),
        ("tuner1", "GPU 3", {"CUDA_VISIBLE_DEVICES": "3"})]
    shared = plan_local_workers(3, gpus=["0", "1"])
    assert [w.env for w in shared][2] == {"CUDA_VISIBLE_DEVICES": "0",
                                          "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    cpus = plan_local_workers(2, gpus=[], cores=[0, 1, 2, 3])
    assert [(w.device, w.cpus) for w in cpus] == [("CPU 0-1", (0, 1)), ("CPU 2-3", (2, 3))]
    assert len(plan_local_workers(0, gpus=[], cores=[0, 1])) == 1


def test_the_oracle_is_public_only_when_lab_mode_allows_it(workspace: Path) -> None:
    from tuning_core.distributed.launch import oracle_host
    from tuning_core.lab.config import LabConfig, save_lab_config

    assert oracle_host(workspace) == "127.0.0.1"
    save_lab_config(LabConfig(oracle_public=False), workspace)
    assert oracle_host(workspace) == "127.0.0.1"
    save_lab_config(LabConfig(oracle_public=True), workspace)
    assert oracle_host(workspace) == "0.0.0.0"
    save_lab_config(LabConfig(oracle_public=True, oracle_address="127.0.0.2"), workspace)
    assert oracle_host(workspace) == "127.0.0.2"  # the interface the admin names, no other
    save_lab_config(LabConfig(oracle_address="127.0.0.2"), workspace)
    assert oracle_host(workspace) == "127.0.0.1"  # an address alone does not open it


def test_an_oracle_address_that_is_no_address_is_refused() -> None:
    from tuning_core.core.errors import LabConfigError
    from tuning_core.lab.config import LabConfig

    with pytest.raises(LabConfigError, match="oracle_address"):
        LabConfig(oracle_public=True, oracle_address="lab-pc").validate()


# --- real processes -------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]


def _start(*args: str) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    return subprocess.Popen([sys.executable, "-m", "tuning_core", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """Wait for the process; kill its whole group (its workers too) whatever happens."""
    try:
        return proc.communicate(timeout=timeout)
    finally:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    # the group outlives a chief that exited: its workers are in it
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _run_config(tmp_path: Path) -> RunDir:
    from tuning_core.data.dataset import ImageConfig
    from tuning_core.runs.schema import RunConfig, TunerSettings
    from tuning_core.space.presets import get_preset

    data = write_image_folder(tmp_path / "images")
    config = RunConfig(data_dir=str(data), space=get_preset("small"), image=ImageConfig(16, "rgb"),
                       tuner=TunerSettings(tuner="random", max_trials=2, epochs=1, patience=0))
    return RunDir.create(tmp_path / "runs", config)


def test_a_worker_pointed_at_a_closed_port_exits_2_with_one_line(tmp_path: Path) -> None:
    import socket

    run = _run_config(tmp_path)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    proc = _start("worker", str(run.path), "--chief", f"127.0.0.1:{port}",
                  "--connect-timeout", "3")
    _, err = _finish(proc, timeout=60)
    assert proc.returncode == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "Traceback" not in err
    assert time.monotonic() - started < 30
    assert not [w for w in run.worker_ids() if run.worker_lock(w).holder() is not None]


def _search(tmp_path: Path, *extra: str) -> subprocess.Popen:
    data = write_image_folder(tmp_path / "images")
    return _start("search", "--data", str(data), "--runs-dir", str(tmp_path / "runs"),
                  "--tuner", "random", "--image-size", "16", "--workers", "2",
                  "--worker-timeout", "90", *extra)


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _ends(run: RunDir) -> list[dict]:
    return [e for e in run.reader().events() if e["event"] == "trial_end"]


@pytest.mark.training
def test_a_chief_and_two_workers_run_every_trial_exactly_once(tmp_path: Path) -> None:
    proc = _search(tmp_path, "--max-trials", "4", "--epochs", "1")
    out, err = _finish(proc, timeout=420)
    assert proc.returncode == 0, err[-2000:]
    lines = out.strip().splitlines()
    run = RunDir(lines[-1])
    assert sum(line.startswith("trial ") for line in lines) == 4
    assert not [line for line in lines if line.strip() in ("1", "2")]  # KerasTuner's stray print
    ends = _ends(run)
    assert sorted(e["trial_id"] for e in ends) == ["0", "1", "2", "3"]  # each exactly once
    trials = run.reader().trials()
    assert len(trials) == 4 and set(trials["status"]) == {"completed"}
    assert set(trials["worker"]) <= {"tuner0", "tuner1"}
    assert sorted(trials["number"]) == [1, 2, 3, 4]
    assert run.reader().search_status == "finished"
    for path in run.project_dir.glob("trial_*/trial.json"):
        assert json.loads(path.read_text())["status"] == "COMPLETED"
    assert not run.chief_path.exists() and not [w for w in run.worker_ids()
                                                if run.worker_lock(w).holder() is not None]


def _long_search(tmp_path: Path):
    """A distributed search long enough (40 trials x 20 epochs) for a kill to land mid-trial."""
    return _search(tmp_path, "--max-trials", "40", "--epochs", "20")


def _busy_worker(tmp_path: Path):
    """The run of the search under ``tmp_path``, and a worker of it that is training a trial."""
    from tuning_core.distributed.launch import workers

    runs = tmp_path / "runs"
    run = RunDir(_wait_for(lambda: next(runs.glob("*/run.json"), None), 60, "the run").parent)
    return run, _wait_for(lambda: [w for w in workers(run) if w.trial], 240, "a busy worker")[0]


@pytest.mark.training
def test_a_killed_worker_does_not_hang_the_search_and_stop_stops_all(tmp_path: Path) -> None:
    from tuning_core.distributed.launch import workers

    proc = _long_search(tmp_path)
    try:
        run, busy = _busy_worker(tmp_path)
        os.kill(busy.pid, signal.SIGKILL)  # mid-trial
        lost = _wait_for(lambda: [e for e in run.reader().events()
                                  if e["event"] == "trial_lost"], 30, "the chief to notice")
        assert lost[0]["trial_id"] == busy.trial and lost[0]["worker"] == busy.worker
        ended = len(_ends(run))
        _wait_for(lambda: len(_ends(run)) > ended, 120, "the other worker to go on")
        assert run.request_stop()
        stopped_at = time.monotonic()
        _out, err = _finish(proc, timeout=120)
    finally:
        _kill_group(proc)
    assert proc.returncode == 0, err[-2000:]
    assert time.monotonic() - stopped_at < 90
    assert run.reader().search_status == "stopped"
    assert not workers(run)  # every worker is gone
    rerun = run.reader().trials().set_index("trial_id").loc[busy.trial]
    assert rerun["status"] != "running"
    _resume_goes_on(run)


def _resume_goes_on(run: RunDir) -> None:
    """Resume with workers: one more trial ends, a stop ends it again, nothing ran twice."""
    from collections import Counter

    before = len(_ends(run))
    proc = _start("resume", str(run.path), "--workers", "2", "--worker-timeout", "90")
    try:
        _wait_for(lambda: run.reader().search_status == "running", 60, "the resume")
        _wait_for(lambda: len(_ends(run)) > before, 240, "a trial of the resumed search")
        assert run.request_stop()
        _, err = _finish(proc, timeout=120)
    finally:
        _kill_group(proc)
    assert proc.returncode == 0, err[-2000:]
    assert run.reader().search_status == "stopped"
    ranked = Counter(e["trial_id"] for e in _ends(run) if e["status"] in ("completed", "stopped"))
    assert ranked and max(ranked.values()) == 1


def test_pages_list_live_workers_and_show_who_ran_each_trial(tmp_path: Path) -> None:
    from tuning_core.distributed.launch import worker_command, workers
    from tuning_core.live.content import trial_table

    run = _run_config(tmp_path)
    lock = run.worker_lock("tuner1")
    lock.acquire(LockHolder.mine("worker", target=run.name, device="GPU 1"))
    try:
        lock.update_holder(trial="7")
        (info,) = workers(run)
        assert (info.worker, info.device, info.trial) == ("tuner1", "GPU 1", "7")
    finally:
        lock.release()
    assert workers(run) == []
    assert worker_command(run).endswith(f"worker {run.path} --chief HOST:PORT")
    _trial(TrialLogWriter(run.worker_log_path("tuner1")), "0", "tuner1", 0.5)
    assert list(trial_table(run.reader().trials())["worker"]) == ["tuner1"]
    plain = TrialLogWriter(tmp_path / "plain.jsonl")
    plain.write("trial_start", trial_id="0", number=1, hyperparameters={})
    from tuning_core.runs.triallog import TrialLogReader
    reader = TrialLogReader(tmp_path / "plain.jsonl")
    reader.poll()
    assert "worker" not in trial_table(reader.trials()).columns  # plain searches: no column


def test_search_page_lists_workers_and_monitor_shows_who_ran_each_trial(
        clean_caches, image_folder: Path) -> None:
    from tests.pages.support import live_table, make_run, new_app, problems
    from tuning_core.core.workspace import runs_dir

    run = RunDir(make_run(runs_dir(), image_folder))
    _trial(TrialLogWriter(run.worker_log_path("tuner0")), "7", "tuner0", 0.9)
    lock = run.worker_lock("tuner0")
    lock.acquire(LockHolder.mine("worker", target=run.name, device="CPU 0-1"))
    try:
        lock.update_holder(trial="7")
        at = new_app().run()
        at.switch_page("pages/search.py").run()
        assert not problems(at)
        assert any(f"worker {run.path} --chief" in c.value for c in at.code)
        table = next(d.value for d in at.dataframe if "device" in d.value.columns)
        assert table[["worker", "device", "trial"]].values.tolist() == [["tuner0", "CPU 0-1", "7"]]
        at.switch_page("pages/monitor.py").run()
        assert not problems(at)
        assert "tuner0" in [row["worker"] for row in live_table(at)]
    finally:
        lock.release()


@pytest.mark.training
def test_workers_of_a_killed_chief_end_their_trial_and_exit(tmp_path: Path) -> None:
    from tuning_core.distributed.launch import workers

    proc = _long_search(tmp_path)
    try:
        run, busy = _busy_worker(tmp_path)
        os.kill(proc.pid, signal.SIGKILL)  # the chief only
        _wait_for(lambda: not workers(run), 60, "the workers to notice")
    finally:
        _kill_group(proc)
    output = run.worker_output_path(busy.worker).read_text()
    last = [line for line in output.splitlines() if line.strip()][-1]
    assert last.startswith("error: ") and "chief" in last  # (KerasTuner prints tracebacks)
    trial = run.reader().trials().set_index("trial_id").loc[busy.trial]
    assert trial["status"] == "interrupted"  # the oracle never heard its end: rerun on resume


def test_the_registrys_search_goes_distributed_when_the_run_asks(tmp_path: Path,
                                                                  monkeypatch) -> None:
    from tuning_core.distributed import launch as distributed
    from tuning_core.search import lifecycle as search

    run = _run_config(tmp_path)
    calls = []
    monkeypatch.setattr(search, "run_search", lambda run_dir: calls.append(("plain", None)))
    monkeypatch.setattr(distributed, "run_distributed_search",
                        lambda run_dir, options: calls.append(("distributed", options.workers)))
    distributed.run_configured_search(run.path)  # workers = 0
    config = run.config()
    config.tuner.workers = 3
    (run.path / "run.json").write_text(json.dumps(config.to_dict()))
    distributed.run_configured_search(run.path)  # a resume reads the same run.json
    assert calls == [("plain", None), ("distributed", 3)]


@pytest.mark.training
def test_the_registry_runs_a_search_with_workers_to_its_end(tmp_path: Path, workspace) -> None:
    from tuning_core.distributed.launch import workers
    from tuning_core.jobs.registry import JobRegistry

    config = _run_config(tmp_path).config()
    config.tuner.workers = 1
    registry = JobRegistry(tmp_path / "dashboard-runs", machine_slot=False)
    started = time.monotonic()
    run = RunDir(registry.start_search(config))
    try:
        assert registry.wait(300), "the distributed search did not end"
    finally:
        registry.shutdown(60)
    assert registry.last_error(run.path) is None
    assert run.reader().search_status == "finished", run.reader().last_end
    assert run.reader().last_start["workers"] == 1
    trials = run.reader().trials()
    assert len(trials) == 2 and set(trials["status"]) == {"completed"}
    assert set(trials["worker"]) == {"tuner0"}
    assert not workers(run) and not run.chief_path.exists()
    assert time.monotonic() - started < 300


@pytest.mark.training
def test_mirrored_and_mixed_precision_on_cpu_train_float32_and_say_so(tmp_path: Path,
                                                                       monkeypatch) -> None:
    import keras
    import tensorflow as tf

    from tuning_core.search import precision, tuners

    real, made = tuners.distribution_strategy, []

    def spy(name: str):
        made.append(real(name))
        return made[-1]

    monkeypatch.setattr(tuners, "distribution_strategy", spy)
    from tuning_core.search.lifecycle import run_search

    if precision.capable_gpus():
        pytest.skip("a capable GPU is visible: this test is of a CPU-only machine")
    run = _run_config(tmp_path)
    config = run.config()
    config.tuner.max_trials, config.tuner.distribution = 1, "mirrored"
    config.tuner.mixed_precision = True
    (run.path / "run.json").write_text(json.dumps(config.to_dict()))
    assert run_search(run.path).value == "finished", run.reader().last_end
    start = run.reader().last_start
    assert start["distribution"] == "mirrored" and start["precision"] == "float32"
    assert "float32" in start["precision_note"] and "GPU" in start["precision_note"]
    trials = run.reader().trials()
    assert trials["status"].tolist() == ["completed"]
    assert keras.mixed_precision.global_policy().name == "float32"
    assert [type(s) for s in made] == [tf.distribute.MirroredStrategy]
    assert made[0].num_replicas_in_sync == 1  # the one CPU device


@pytest.mark.training
def test_stop_of_a_dashboard_search_with_workers_stops_them_all(tmp_path: Path,
                                                                 workspace) -> None:
    from tuning_core.distributed.launch import workers
    from tuning_core.jobs.registry import JobRegistry

    config = _run_config(tmp_path).config()
    config.tuner.workers, config.tuner.max_trials, config.tuner.epochs = 1, 40, 20
    registry = JobRegistry(tmp_path / "dashboard-runs", machine_slot=False)
    run = RunDir(registry.start_search(config))
    try:
        _wait_for(lambda: [w for w in workers(run) if w.trial], 240, "a busy worker")
        assert registry.stop(run.path)  # what the Search page's Stop button calls
        stopped_at = time.monotonic()
        assert registry.wait(150), "the search did not end after Stop"
    finally:
        registry.shutdown(60)
    assert time.monotonic() - stopped_at < 150
    assert run.reader().search_status == "stopped"
    assert not workers(run)
