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

from conftest import write_image_folder

ROOT = Path(__file__).resolve().parent.parent


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
    ends = [json.loads(l) for l in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert sum(e["event"] == "trial_end" and e["status"] == "completed" for e in ends) == 2
    result = _cli("best", str(run_dir), "--epochs", "1")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert 0 <= summary["test_accuracy"] <= 1 and summary["test_loss"] > 0
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
         "--image-size", "16"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
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
    finished = [json.loads(l)["trial_id"] for l in log.read_text().splitlines()
                if '"trial_end"' in l]
    result = _cli("resume", str(log.parent))
    assert result.returncode == 0, result.stderr
    events = [json.loads(l) for l in log.read_text().splitlines()]
    starts = [e["trial_id"] for e in events if e["event"] == "trial_start"]
    for trial_id in finished:
        assert starts.count(trial_id) == 1  # completed trials are not run again
    statuses = {e["trial_id"]: e["status"] for e in events if e["event"] == "trial_end"}
    assert len(statuses) == 4 and events[-1]["status"] == "finished"
