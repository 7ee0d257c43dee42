"""A distributed worker's full disk stops the search (issue 27): the worker's trial fails
"disk full: N MB free on <filesystem>", the worker tells the chief on that trial's end, and
the chief stops the whole search with the reason, as a plain search stops, instead of
handing out trial after trial that fail the same (or hanging)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import write_image_folder
from tests.disks import Mount
from tuning_core.runs.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]


def test_the_disk_full_line_is_found_in_a_failed_trials_traceback() -> None:
    from tuning_core.distributed.worker import disk_full_line

    traceback = ("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                 "keras_tuner.src.errors.FailedTrialError: disk full: 0.6 MB free on /mnt/x; "
                 "this trial's checkpoint needs about 1.2 MB\n")
    assert disk_full_line(traceback) == ("disk full: 0.6 MB free on /mnt/x; this trial's "
                                         "checkpoint needs about 1.2 MB")
    assert disk_full_line("ValueError: bad shape") is None and disk_full_line(None) is None


def test_a_trial_end_saying_disk_full_stops_the_chief_with_that_reason(tmp_path: Path) -> None:
    """The chief's servicer reads the worker's metadata: no worker gets a next trial, and its
    wait ends at once, stopped, with the worker's message."""
    from keras_tuner.src import protos

    from tests.distributed.test_chief import random_oracle
    from tuning_core.core import control
    from tuning_core.core.states import SearchEnd
    from tuning_core.distributed.chief import DISK_FULL_KEY, Chief, oracle_servicer

    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    oracle = random_oracle(run.path)
    chief = Chief(oracle, run, control.SearchControl(), no_worker_timeout_s=30)
    servicer = oracle_servicer(chief)
    trial = oracle.create_trial("tuner0")
    trial.status = "FAILED"
    message = "disk full: 0.6 MB free on /mnt/x (worker tuner0)"
    context = SimpleNamespace(invocation_metadata=lambda: ((DISK_FULL_KEY, message),))
    servicer.EndTrial(protos.get_service().EndTrialRequest(trial=trial.to_proto()), context)
    assert chief.ending() and oracle.ongoing_trials == {}
    started = time.monotonic()
    assert chief.wait() == (SearchEnd.STOPPED, message)
    assert time.monotonic() - started < 5
    assert run.stop_path.is_file()  # every other worker ends its trial at its next batch
    refused = servicer.CreateTrial(protos.get_service().CreateTrialRequest(tuner_id="tuner1"),
                                   context)
    assert refused.trial.status == protos.get_proto().TrialStatus.STOPPED


@pytest.mark.training
def test_a_workers_full_disk_stops_the_distributed_search(tmp_path: Path,
                                                          small_disk: Mount) -> None:
    disk = small_disk("40m")
    data = write_image_folder(tmp_path / "images")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuning_core", "search", "--data", str(data), "--runs-dir",
         str(disk / "runs"), "--tuner", "random", "--image-size", "16", "--keep-top", "1",
         "--max-trials", "6", "--epochs", "3", "--patience", "0", "--workers", "1",
         "--worker-timeout", "60"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        run = _first_trial_end(disk / "runs", proc)
        with open(disk / "filler", "wb") as handle:  # another program takes the rest
            handle.truncate(max(0, shutil.disk_usage(disk).free - 600_000))
            os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)
        filled = time.monotonic()
        out, err = proc.communicate(timeout=240)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its worker too, whatever happened
        proc.wait(10)
    assert time.monotonic() - filled < 180  # not the 60 s no-worker wait, nor a retry loop
    assert proc.returncode == 2, err[-2000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: disk full: "), err[-2000:]
    assert f"free on {disk}" in lines[0] and "worker" in lines[0]
    events = run.reader().events()
    end = [e for e in events if e["event"] == "search_end"][-1]
    assert (end["status"], end["reason"]) == ("stopped", "disk full")
    failed = [e for e in events if e["event"] == "trial_end" and e["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"].startswith("disk full: ")
    assert f"free on {disk}" in failed[0]["error"]
    worker_out = next(run.path.glob("worker-*.out")).read_text()
    assert "error: disk full: " in worker_out and "Traceback" not in worker_out
    assert "search stopped: disk full: " in out


def _first_trial_end(runs: Path, proc: subprocess.Popen, timeout: float = 300) -> RunDir:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        logs = list(runs.glob("*/trials-*.jsonl"))
        if logs and '"trial_end"' in logs[0].read_text():
            return RunDir(logs[0].parent)
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"the first trial never ended: {proc.communicate()[1][-2000:]}")
