"""Figure 10's processes: plain and distributed searches, and a worker killed mid-trial.

Every search is ``python -m tuning_core search`` in a session of its own (so its chief and
workers share one process group, killed whatever happens), every wait is bounded, and the
load average is sampled once a second while the figure runs.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.harness.common import OUT, digits_dir, fresh_dir, run_folders
from bench.soak.audit import kerastuner_trials
from bench.soak.procs import Proc
from bench.workers.events import (
    WAYS,
    between_trials,
    fault_outcome,
    read_events,
    throughput,
    trial_seconds,
)

SEARCH_TIMEOUT_S = 420.0
WAIT_POLL_S = 0.05


class LoadSampler(threading.Thread):
    """The 1-minute load average, once a second, until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(1.0):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> list[float]:
        self._halt.set()
        self.join(2.0)
        return self.samples


def _env(root: Path) -> dict[str, str]:
    return dict(os.environ, TUNING_WORKSPACE=str(fresh_dir(root / "workspace")),
                TUNING_SLOT_DIR=str(fresh_dir(root / "slot")), TF_CPP_MIN_LOG_LEVEL="3",
                PYTHONWARNINGS="ignore")


def _start(root: Path, data: Path, way: str, trials: int, epochs: int, seed: int) -> Proc:
    args = [sys.executable, "-m", "tuning_core", "search", "--data", str(data),
            "--runs-dir", str(fresh_dir(root / "runs")), "--tuner", "random",
            "--preset", "small", "--image-size", "16", "--max-trials", str(trials),
            "--epochs", str(epochs), "--seed", str(seed)]
    if way != "plain":
        args += ["--workers", way.split()[0], "--worker-timeout", "60"]
    return Proc(args, _env(root), way)


def _run_dir(root: Path, timeout: float) -> Path | None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = run_folders(root / "runs")
        if found:
            return found[0]
        time.sleep(WAIT_POLL_S)
    return None


def one_search(root: Path, data: Path, way: str, trials: int, epochs: int,
               seed: int) -> dict[str, Any]:
    """One whole search; its throughput and gaps from its logs."""
    proc = _start(root, data, way, trials, epochs, seed)
    try:
        code = proc.wait(SEARCH_TIMEOUT_S)
    finally:
        proc.kill()  # the group: a chief that exited leaves no worker behind
    if code != 0:
        raise RuntimeError(f"{way} search exited {code}: {proc.stderr_tail()}")
    run = _run_dir(root, 1.0)
    events = read_events(run)
    return {"way": way, "process_s": proc.ended - proc.started, "events": events,
            **throughput(events), "trial_s": trial_seconds(events),
            "gaps": between_trials(events), "load": round(os.getloadavg()[0], 2)}


def _busy_worker(run, timeout: float):
    from tuning_core.distributed.launch import workers

    deadline = time.time() + timeout
    while time.time() < deadline:
        busy = [w for w in workers(run) if w.trial]
        if busy:
            return busy[0]
        time.sleep(WAIT_POLL_S)
    return None


def fault_test(root: Path, data: Path, trials: int, epochs: int, seed: int) -> dict[str, Any]:
    """2 workers; kill -9 one of them at a random moment of a trial (after its first epoch
    line or not); time until the chief logs trial_lost; the search must finish every trial."""
    from tuning_core.runs.rundir import RunDir

    rng = random.Random(seed)
    result: dict[str, Any] = {"max_trials": trials, "problems": []}
    proc = _start(root, data, "2 workers", trials, epochs, seed)
    try:
        path = _run_dir(root, 60)
        if path is None:
            raise RuntimeError(f"no run appeared: {proc.stderr_tail()}")
        run = RunDir(path)
        busy = _busy_worker(run, 240)
        if busy is None:
            raise RuntimeError("no worker took a trial within 240 s")
        delay = rng.uniform(0.5, 3.0)  # a trial here takes 3-6 s
        time.sleep(delay)
        from tuning_core.distributed.launch import workers
        current = {w.worker: w for w in workers(run)}.get(busy.worker)
        trial = current.trial if current else busy.trial
        killed_at = time.time()
        os.kill(busy.pid, signal.SIGKILL)  # the worker only, mid-trial
        result.update(killed_worker=busy.worker, killed_trial=trial,
                      moment=f"{delay:.2f} s after it took a trial")
        code = proc.wait(SEARCH_TIMEOUT_S)
        if code != 0:
            result["problems"].append(f"search exited {code}: {proc.stderr_tail()}")
    finally:
        proc.kill()
    reader = run.reader()
    merged = reader.events()
    for e in merged:  # the reader's events carry the worker where the line named one
        e.setdefault("worker", None)
    completed = [t for t, status in kerastuner_trials(run).items() if status == "COMPLETED"]
    result.update(fault_outcome(merged, completed, killed_at, busy.worker, trial),
                  status=reader.search_status, finished=reader.search_status == "finished",
                  kt_completed=len(completed))
    table = reader.trials()
    if "worker" in table.columns:
        rows = table[table["trial_id"].astype(str) == str(trial)]
        result["rerun_by"] = rows["worker"].iloc[0] if len(rows) else None
    if not trial:
        result["problems"].append("the killed worker had no trial at the kill")
    if result["ended"] < trials:
        result["problems"].append(f"only {result['ended']} of {trials} trials ended")
    return result


def measure_runs(s: dict, seed: int) -> tuple[list[dict], dict, list[float]]:
    data = digits_dir()
    root = OUT / "fig10"
    sampler = LoadSampler()
    sampler.start()
    runs = []
    try:
        for repeat in range(s["repeats"]):
            order = WAYS[repeat % 3:] + WAYS[:repeat % 3]
            for way in order:
                slug = way.replace(" ", "")
                result = one_search(root / f"r{repeat}-{slug}", data, way, s["max_trials"],
                                    s["epochs"], seed)
                result["repeat"] = repeat + 1
                runs.append(result)
                print(f"fig10: repeat {repeat + 1} {way}: {result['per_hour']:.0f} trials/h",
                      file=sys.stderr, flush=True)
        fault = fault_test(root / "fault", data, s["fault_trials"], s["fault_epochs"], seed)
    finally:
        load = sampler.stop()
    return runs, fault, load
