"""The command line as a user runs it: real processes, exit codes, last lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_image_folder

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "tuning_core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["search", "--data", "/no/such/folder", "--runs-dir", "/tmp/r"], "/no/such/folder"),
    (["best", "/no/such/run"], "not a run folder"),
    (["search", "--data", ".", "--runs-dir", "/tmp/r", "--tuner", "magic"], "invalid choice"),
    (["predict", "/no/such/run", "x.png"], "not a run folder"),
])
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = _cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1


def test_invalid_space_file_is_rejected_with_its_field(tmp_path: Path) -> None:
    data = write_image_folder(tmp_path / "images")
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"schema_version": 1}))
    result = _cli("search", "--data", str(data), "--runs-dir", str(tmp_path / "runs"),
                  "--space", str(space))
    assert result.returncode == 2 and "conv_blocks" in result.stderr


@pytest.mark.training
def test_sample_search_best_predict(tmp_path: Path) -> None:
    digits = tmp_path / "digits"
    assert _cli("sample-data", str(digits)).returncode == 0
    result = _cli("search", "--data", str(digits), "--runs-dir", str(tmp_path / "runs"),
                  "--tuner", "random", "--max-trials", "2", "--epochs", "1", "--image-size", "16",
                  "--subset", "0.3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    run_dir = Path(lines[-1])
    assert run_dir.is_dir() and sum(line.startswith("trial ") for line in lines) == 2
    ends = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert sum(e["event"] == "trial_end" and e["status"] == "completed" for e in ends) == 2
    result = _cli("best", str(run_dir), "--epochs", "1")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert 0 <= summary["test_accuracy"] <= 1 and summary["test_loss"] > 0
    low, high = summary["test_accuracy_95"]  # its margin, from the number of test images
    assert low <= summary["test_accuracy"] <= high and high - low > 0
    image = next((digits / "7").glob("*.png"))
    result = _cli("predict", str(run_dir), str(image))
    assert result.returncode == 0 and str(image) in result.stdout


@pytest.mark.training
def test_killed_search_resumes_and_keeps_completed_trials(tmp_path: Path) -> None:
    data = write_image_folder(tmp_path / "images")
    runs = tmp_path / "runs"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    process = subprocess.Popen(
        [sys.executable, "-m", "tuning_core", "search", "--data", str(data), "--runs-dir",
         str(runs), "--tuner", "random", "--max-trials", "4", "--epochs", "30", "--patience", "0",
         "--image-size", "16"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL)
    log = None
    deadline = time.time() + 300
    while time.time() < deadline:
        logs = list(runs.glob("*/trials.jsonl"))
        if logs and '"trial_end"' in logs[0].read_text():
            log = logs[0]
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)  # a crash or a power cut, not a polite stop
    process.wait()
    assert log is not None, "the first trial never ended"
    finished = [json.loads(line)["trial_id"] for line in log.read_text().splitlines()
                if '"trial_end"' in line]
    result = _cli("resume", str(log.parent))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    starts = [e["trial_id"] for e in events if e["event"] == "trial_start"]
    for trial_id in finished:
        assert starts.count(trial_id) == 1  # completed trials are not run again
    statuses = {e["trial_id"]: e["status"] for e in events if e["event"] == "trial_end"}
    assert len(statuses) == 4 and events[-1]["status"] == "finished"


def _start_search(data: Path, runs: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    return subprocess.Popen(
        [sys.executable, "-m", "tuning_core", "search", "--data", str(data), "--runs-dir",
         str(runs), "--tuner", "random", "--max-trials", "20", "--epochs", "200", "--patience",
         "0", "--image-size", "16", *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def _events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _wait_for_epochs(runs: Path, count: int, timeout: float = 300) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        logs = list(runs.glob("*/trials.jsonl"))
        if logs and logs[0].read_text().count('"epoch_end"') >= count:
            return logs[0]
        time.sleep(0.1)
    raise AssertionError("the search never reached its first epochs")


@pytest.mark.training
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_search_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C, or a service manager's SIGTERM: the trial ends at a batch, the log says stopped."""
    process = _start_search(write_image_folder(tmp_path / "images"), tmp_path / "runs")
    try:
        log = _wait_for_epochs(tmp_path / "runs", 2)
        process.send_signal(sig)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "search stopped" in out and "stopping after the current batch" in err
    events = _events(log)
    assert events[-1]["event"] == "search_end" and events[-1]["status"] == "stopped"
    assert [e["status"] for e in events if e["event"] == "trial_end"] == ["stopped"]
    assert not (log.parent / "owner.json").exists()  # the lock was given back


def test_a_second_ctrl_c_aborts_at_once(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Two blows of Ctrl-C within one stop: the first asks for a stop, the second exits 130.

    (Python merges two signals that arrive before its handler runs, so this is tested on the
    handler; that an abrupt exit leaves a resumable run is what the kill -9 test shows.)
    """
    from tuning_core.cli import support
    from tuning_core.core import control

    asked, exits = [], []
    monkeypatch.setattr(control, "request_stop_all", lambda: asked.append(1) or 1)
    monkeypatch.setattr(support.os, "_exit", lambda code: exits.append(code))
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        with support.Signals() as signals:
            signals._handle(signal.SIGINT, None)
            assert asked == [1] and exits == []
        signals._handle(signal.SIGTERM, None)  # after the clean stop ended: still an abort
        assert exits == [130]
        err = capsys.readouterr().err
        assert "stopping after the current batch" in err and "aborted" in err
    finally:
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])
    with support.Signals():
        pass
    assert signal.getsignal(signal.SIGINT) is saved[0]  # no signal came: handlers restored


@pytest.mark.training
def test_two_processes_never_train_one_run(tmp_path: Path) -> None:
    """A resume, a retrain or a second search while a run trains is refused with its owner."""
    data, runs = write_image_folder(tmp_path / "images"), tmp_path / "runs"
    process = _start_search(data, runs)
    try:
        log = _wait_for_epochs(runs, 1)
        for args in (("resume", str(log.parent)), ("resume", str(log.parent), "--parallel"),
                     ("best", str(log.parent), "--epochs", "1")):
            result = _cli(*args)
            assert result.returncode == 2, result.stderr
            assert f"is held by pid {process.pid}" in result.stderr
        result = _cli("search", "--data", str(data), "--runs-dir", str(runs), "--max-trials", "1")
        assert result.returncode == 2 and "training slot is held" in result.stderr
        listed = _cli("runs", "--runs-dir", str(runs)).stdout
        assert "\trunning\t" in listed and f"pid {process.pid}" in listed
        from tuning_core.runs.rundir import RunDir
        assert RunDir(log.parent).request_stop()  # the dashboard's Stop, from another process
        out, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0 and "search stopped" in out
    starts = [e for e in _events(log) if e["event"] == "search_start"]
    assert len(starts) == 1  # nobody else ever started training it
