"""The job queue behind the registry: launches wait in order and start by themselves."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tuning_core.core import control
from tuning_core.data.dataset import ImageConfig
from tuning_core.jobs.dispatcher import queue_entries, queue_for, serve_queue, serving_dashboard
from tuning_core.jobs.records import JobState, QueueKind
from tuning_core.jobs.registry import JobRegistry
from tuning_core.lab.accounts import Role, User
from tuning_core.lab.actor import Actor
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.space.presets import get_preset


class Gate:
    """A stand-in search: logs a start, then runs until released or stopped (no training)."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.release: dict[str, threading.Event] = {}
        self.started = threading.Condition()

    def __call__(self, run_dir: Path) -> str:
        run = RunDir(run_dir)
        event = self.release.setdefault(run.name, threading.Event())
        with self.started:
            self.order.append(run.name)
            self.started.notify_all()
        run.log_writer().write("search_start", max_trials=1)
        search = control.get(str(run.path))
        while not event.is_set() and not search.should_end():
            event.wait(0.02)
        run.log_writer().write("search_end", status="finished")
        return "finished"

    def wait_started(self, count: int, timeout: float = 20) -> None:
        with self.started:
            assert self.started.wait_for(lambda: len(self.order) >= count, timeout), self.order

    def finish(self, name: str) -> None:
        self.release.setdefault(name, threading.Event()).set()


def _config(data: Path, name: str) -> RunConfig:
    return RunConfig(data_dir=str(data), space=get_preset("small"), image=ImageConfig(16, "rgb"),
                     tuner=TunerSettings(tuner="random", max_trials=1, max_minutes=5), name=name)


def _member(name: str) -> Actor:
    return Actor(User(name, Role.MEMBER))


def _queued_registry(runs: Path, gate: Gate) -> JobRegistry:
    registry = JobRegistry(runs, search=gate)
    serve_queue(registry, queue_for(runs))
    return registry


def _wait(predicate, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def test_the_second_launch_waits_and_starts_by_itself(image_folder: Path, tmp_path: Path) -> None:
    gate = Gate()
    registry = _queued_registry(tmp_path / "ws" / "runs", gate)
    try:
        first = registry.start_search(_config(image_folder, "a"), _member("alice"))
        gate.wait_started(1)
        second = registry.start_search(_config(image_folder, "b"), _member("bob"))  # no "busy"
        third = registry.start_search(_config(image_folder, "c"), _member("bob"))
        entries = queue_entries(registry.dispatcher.queue, running_left_s=120)
        assert [(e.position, Path(e.job.run_dir)) for e in entries] == [
            (None, first), (1, second), (2, third)]
        assert entries[1].starts_in_s == pytest.approx(120, abs=5)
        assert entries[2].starts_in_s == pytest.approx(120 + 300, abs=5)  # b's 5-minute budget
        assert serving_dashboard(registry.dispatcher.queue).pid > 0
        gate.finish(first.name)
        gate.wait_started(2)
        assert gate.order == [first.name, second.name]
        gate.finish(second.name)
        gate.wait_started(3)
        gate.finish(third.name)
        _wait(lambda: all(j.state is JobState.FINISHED
                          for j in registry.dispatcher.queue.history(10)) and
              len(registry.dispatcher.queue.history(10)) == 3)
    finally:
        for name in list(gate.release):
            gate.finish(name)
        registry.shutdown(10)


def test_a_cancelled_job_never_runs_and_owners_move_only_their_share(
        image_folder: Path, tmp_path: Path) -> None:
    gate = Gate()
    registry = _queued_registry(tmp_path / "ws" / "runs", gate)
    try:
        first = registry.start_search(_config(image_folder, "a"), _member("alice"))
        gate.wait_started(1)
        registry.start_search(_config(image_folder, "b"), _member("bob"))
        cancelled = registry.start_search(_config(image_folder, "c"), _member("alice"))
        queue = registry.dispatcher.queue
        waiting = [j for j in queue.jobs() if j.state is JobState.QUEUED]
        with pytest.raises(Exception, match="share of the queue"):
            queue.move(waiting[1].id, -1, _member("alice"))  # would pass bob's job
        with pytest.raises(Exception, match="belongs to alice"):
            queue.cancel(waiting[1].id, _member("bob"))
        queue.cancel(waiting[1].id, _member("alice"))
        gate.finish(first.name)
        gate.wait_started(2)
        gate.finish(gate.order[1])
        _wait(lambda: registry.active_run() is None and not
              [j for j in queue.jobs() if j.state is JobState.QUEUED])
        time.sleep(0.3)
        assert cancelled.name not in gate.order
    finally:
        for name in list(gate.release):
            gate.finish(name)
        registry.shutdown(10)


def test_after_a_restart_the_dead_job_resumes_first_then_the_queue_goes_on(
        image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuning_core.jobs import dispatcher as dispatch

    runs = tmp_path / "ws" / "runs"
    runs.mkdir(parents=True)
    queue = queue_for(runs)
    dead = RunDir.create(runs, _config(image_folder, "dead"))
    waiting = [RunDir.create(runs, _config(image_folder, n)) for n in ("w1", "w2")]
    job = queue.enqueue(QueueKind.SEARCH, dead.path, "alice")
    for run in waiting:
        queue.enqueue(QueueKind.SEARCH, run.path, "bob")
    queue.claim_next("lab-1", 999_999)  # the server that ran it was killed with the machine
    monkeypatch.setattr(dispatch, "process_alive", lambda j: j.pid != 999_999)
    gate = Gate()
    registry = JobRegistry(runs, search=gate)  # the restarted server
    serve_queue(registry, queue)
    try:
        gate.wait_started(1)
        assert gate.order == [dead.name]  # back at the head once, resumed by the new server
        assert queue.get(job.id).requeues == 1 and queue.get(job.id).state is JobState.RUNNING
        gate.finish(dead.name)
        gate.wait_started(2)
        gate.finish(waiting[0].name)
        gate.wait_started(3)
        gate.finish(waiting[1].name)
        assert gate.order == [dead.name, waiting[0].name, waiting[1].name]
        _wait(lambda: queue.get(job.id).state is JobState.FINISHED)
    finally:
        for name in list(gate.release):
            gate.finish(name)
        registry.shutdown(10)
