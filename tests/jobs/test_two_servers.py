"""Two servers on one workspace (issue 27): a local ``serve`` and a ``serve --lab`` share one
workspace, as two ``make run`` on two ports or a dashboard beside ``make lab`` would.

Jobs queued with no page open each run exactly once, each trained by one server (whose run
lock refuses any other process, naming its pid); a server killed with SIGKILL mid-job has
its job taken up by the other one (back in the queue once, resumed, its trials each run
once); both servers' live feeds show the same state of every run; and the audit log,
appended to by the lab server and the command line at the same time, stays one file of
whole lines in time order.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import write_image_folder
from tests.lab_server import LabServer, lab_server, local_server, run_cli
from tuning_core.core.errors import LockHeldError
from tuning_core.core.states import LogEvent
from tuning_core.data.dataset import ImageConfig
from tuning_core.jobs.dispatcher import queue_for
from tuning_core.jobs.records import JobState, QueueKind
from tuning_core.runs.locks import LockHolder
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.space.presets import get_preset

pytestmark = pytest.mark.training

JOBS = 3
CUT_TRIALS = 3  # the kill must land before the search ends: two trials of margin
DONE_S = 300.0  # three one-trial searches and a two-trial one, on two shared cores


def _run(workspace: Path, images: Path, name: str, trials: int = 1) -> RunDir:
    config = RunConfig(data_dir=str(images), space=get_preset("small"), name=name,
                       image=ImageConfig(16, "rgb"),
                       tuner=TunerSettings(tuner="random", max_trials=trials, epochs=1))
    return RunDir.create(workspace / "runs", config)


def _events(run: RunDir, event: LogEvent) -> list[dict]:
    return [e for e in RunDir(run.path).reader().events() if e.get("event") == event.value]


def _wait(predicate, what: str, timeout: float = DONE_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)  # servers' dispatchers and training, not a page


def _feed(server: LabServer, run: RunDir, token: str | None) -> tuple[str, dict]:
    reply = server.get(f"/_live/monitor?run={run.name}", token)
    assert reply.status == 200, reply.body[:200]
    return reply.headers["ETag"], json.loads(reply.body)


def _audit_traffic(lab: LabServer, stop: threading.Event) -> int:
    """Logins at the lab server (which appends them) until ``stop``; how many."""
    count = 0
    while not stop.wait(0.3):  # paced: each login is a scrypt hash on the training's cores
        assert lab.login("bob", "bob-password").status == 303
        count += 1
    return count


def test_two_servers_run_each_job_once_take_over_a_killed_one_and_agree(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    monkeypatch.setenv("TUNING_SLOT_DIR", str(tmp_path / "slot"))  # this machine's, for both
    images = write_image_folder(tmp_path / "images", {"dark": 24, "light": 24})
    queue = queue_for(workspace / "runs")
    with local_server(workspace, tmp_path / "local.log") as local, \
            lab_server(workspace, tmp_path / "lab.log") as lab:
        pids = {local.port: _server_pid(local), lab.port: _server_pid(lab)}
        token = lab.session("alice")
        stop, logins = threading.Event(), []
        talker = threading.Thread(target=lambda: logins.append(_audit_traffic(lab, stop)))
        talker.start()
        try:
            runs = [_run(workspace, images, f"job{i}") for i in range(JOBS)]
            jobs = [queue.enqueue(QueueKind.SEARCH, run.path, "alice") for run in runs]
            for i in range(3):  # the command line appends to the same audit log meanwhile
                added = run_cli(workspace, "user", "add", f"carol{i}", "--role", "viewer",
                                stdin="carol-password\n")
                assert added.returncode == 0, added.stderr
            _wait(lambda: all(queue.get(j.id).state.is_done() for j in jobs), "the jobs")
        finally:
            stop.set()
            talker.join(30)
        for job, run in zip(jobs, runs, strict=True):
            done = queue.get(job.id)
            assert done.state is JobState.FINISHED and done.requeues == 0, done
            assert done.pid in pids.values()  # claimed by one of the two servers
            assert len(_events(run, LogEvent.SEARCH_START)) == 1  # trained once, by one
            assert len(_events(run, LogEvent.TRIAL_END)) == 1
        # both servers' pages show the same state of every run
        for run in runs:
            assert _feed(local, run, None) == _feed(lab, run, token)

        # a server killed with SIGKILL mid-job: the other one takes the job up
        cut = _run(workspace, images, "cut", trials=CUT_TRIALS)
        job = queue.enqueue(QueueKind.SEARCH, cut.path, "alice")
        _wait(lambda: queue.get(job.id).state is JobState.RUNNING
              and _events(cut, LogEvent.TRIAL_START), "the last job's first trial", 120)
        victim = queue.get(job.id).pid
        survivor = next(pid for pid in pids.values() if pid != victim)
        with pytest.raises(LockHeldError, match=f"held by pid {victim} "):  # one trainer
            cut.lock().acquire(LockHolder.mine("search"))
        os.killpg(victim, signal.SIGKILL)
        _wait(lambda: queue.get(job.id).state.is_done(),
              f"the job to end on the other server (pid {survivor})")
        done = queue.get(job.id)
        assert done.state is JobState.FINISHED and done.requeues == 1, done
        assert done.pid == survivor
        assert len(_events(cut, LogEvent.SEARCH_START)) == 2  # started, then resumed once
        completed = [e["trial_id"] for e in _events(cut, LogEvent.TRIAL_END)
                     if e.get("status") == "completed"]
        assert len(completed) == len(set(completed)) == CUT_TRIALS  # each ran to its end once
        alive = local if pids[local.port] == survivor else lab
        assert _feed(alive, cut, token if alive is lab else None)[1]["run"] == cut.name

    # the audit log: one file of whole lines, in time order, from both writers
    lines = (workspace / "audit.jsonl").read_bytes().splitlines()
    events = [json.loads(line) for line in lines]
    times = [event["time"] for event in events]
    assert times == sorted(times)
    actions = [event["action"] for event in events]
    assert actions.count("user add") == 2 + 3  # the lab's two users, then carol0..2
    assert actions.count("login") >= logins[0] + 1 > 2  # alice's and every bob login


def _server_pid(server: LabServer) -> int:
    """The pid of the process listening on ``server.port`` (``serve`` execs into streamlit:
    the process the test started, a session leader)."""
    return _listening_pid(server.port)


def _listening_pid(port: int) -> int:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for row in handle.readlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return int(pid)
    raise AssertionError(f"no process listens on port {port}")
