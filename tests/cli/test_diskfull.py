"""A full disk is a state, not a crash (issue 27), on a real small filesystem: the search is
refused before it starts when the disk cannot hold it, stops cleanly when the disk fills
while it trains (exit 2, one line, never a signal: h5py's failed close used to segfault),
and finishes after space is freed, with no completed trial run twice."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import pytest

from tests.conftest import write_image_folder

ROOT = Path(__file__).resolve().parents[2]
SEARCH = ("--tuner", "random", "--image-size", "16", "--keep-top", "1")


def _cli(*args: str) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    return subprocess.Popen([sys.executable, "-m", "tuning_core", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_a_search_the_disk_cannot_hold_is_refused_before_it_starts(
        tmp_path: Path, small_disk: Callable[[str], Path]) -> None:
    disk = small_disk("2m")
    data = write_image_folder(tmp_path / "images")
    process = _cli("search", "--data", str(data), "--runs-dir", str(disk / "runs"), *SEARCH,
                   "--max-trials", "4", "--epochs", "2")
    _, err = process.communicate(timeout=300)
    assert process.returncode == 2, err
    assert _lines(err) == [line for line in _lines(err) if line.startswith("error: disk full: ")]
    assert len(_lines(err)) == 1 and f"free on {disk}" in err and "this search needs" in err
    assert not list((disk / "runs").glob("*/run.json"))  # no run was made


@pytest.mark.training
def test_a_disk_that_fills_stops_the_search_and_a_resume_finishes_it(
        tmp_path: Path, small_disk: Callable[[str], Path]) -> None:
    disk = small_disk("40m")  # enough for the estimate; the filler then takes the rest
    data = write_image_folder(tmp_path / "images")
    process = _cli("search", "--data", str(data), "--runs-dir", str(disk / "runs"), *SEARCH,
                   "--max-trials", "4", "--epochs", "3", "--patience", "0")
    log = _first_trial_end(disk / "runs", process)
    filler = disk / "filler"
    with open(filler, "wb") as handle:  # another program takes all but 600 KB
        handle.truncate(max(0, shutil.disk_usage(disk).free - 600_000))
        os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)
    out, err = process.communicate(timeout=600)

    assert process.returncode == 2, err  # not -11 (a segfault) nor 1 (failed)
    assert "search stopped: disk full: " in out
    assert len(_lines(err)) == 1 and err.startswith("error: disk full: "), err
    assert "Traceback" not in err and "resume" in err
    events = _events(log)
    end = events[-1]
    assert (end["event"], end["status"], end["reason"]) == ("search_end", "stopped", "disk full")
    failed = [e for e in events if e["event"] == "trial_end" and e["status"] == "failed"]
    assert failed and all(e["error"].startswith("disk full: ") for e in failed)
    assert f"free on {disk}" in failed[0]["error"]
    _assert_whole(log.parent)

    filler.unlink()  # space freed
    resumed = _cli("resume", str(log.parent))
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    events = _events(log)
    completed = [e["trial_id"] for e in events
                 if e["event"] == "trial_end" and e["status"] == "completed"]
    assert len(completed) == len(set(completed))  # no completed trial ran twice
    ended = {e["trial_id"] for e in events if e["event"] == "trial_end"}
    assert len(ended) == 4 and events[-1]["status"] == "finished"
    _assert_whole(log.parent)


def _first_trial_end(runs: Path, process: subprocess.Popen, timeout: float = 300) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        logs = list(runs.glob("*/trials.jsonl"))
        if logs and '"trial_end"' in logs[0].read_text():
            return logs[0]
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"the first trial never ended: {process.communicate()[1][-2000:]}")


def _assert_whole(run: Path) -> None:
    """No temporary file left, and every checkpoint opens as a whole HDF5 file."""
    assert not [p for p in run.rglob("*.tmp")], "a half-written file was left"
    for checkpoint in run.glob("tuner/trial_*/*.weights.h5"):
        with h5py.File(checkpoint, "r") as handle:
            assert len(handle.keys()) > 0
