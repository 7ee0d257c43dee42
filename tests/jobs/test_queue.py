"""Tests for tuning_core.jobs.queue: order, the one slot, permissions, restarts, processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import types
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from tuning_core.core import atomic
from tuning_core.jobs.queue import JobQueue, QueuedJob, QueueError
from tuning_core.jobs.records import JobState, QueueKind, process_alive
from tuning_core.lab.accounts import Role, User
from tuning_core.lab.actor import Actor
from tuning_core.runs.locks import STALE_S, FileLock, LockHolder

PROCESS_TIMEOUT_S = 60


class Clock:
    """A hand-driven clock."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now



def _member(name: str) -> Actor:
    return Actor(User(name, Role.MEMBER))


def _admin(name: str) -> Actor:
    return Actor(User(name, Role.ADMIN))

@pytest.fixture
def queue(tmp_path: Path) -> JobQueue:
    return JobQueue(tmp_path / "queue.sqlite3", clock=Clock())


def _enqueue(queue: JobQueue, tmp_path: Path, owners: str, budget_s: float | None = None
             ) -> list[QueuedJob]:
    """One search job per letter of ``owners`` ("aab": two of a, one of b), runs r0, r1..."""
    return [queue.enqueue("search", tmp_path / f"r{i}", owner, budget_s=budget_s)
            for i, owner in enumerate(owners)]


def _ids(jobs: list[QueuedJob]) -> list[int]:
    return [job.id for job in jobs]


# --- the model ------------------------------------------------------------------------


def test_states_have_behaviour() -> None:
    assert JobState.QUEUED.is_waiting() and not JobState.QUEUED.is_done()
    assert not JobState.RUNNING.is_waiting() and not JobState.RUNNING.is_done()
    assert all(s.is_done() for s in (JobState.FINISHED, JobState.FAILED,
                                     JobState.CANCELLED, JobState.INTERRUPTED))
    assert JobState.INTERRUPTED.is_resumable() and not JobState.FINISHED.is_resumable()


def test_job_round_trips_json(queue: JobQueue, tmp_path: Path) -> None:
    job = queue.enqueue(QueueKind.RETRAIN, tmp_path / "run", "ann", {"epochs": 3}, 90.0)
    again = QueuedJob.from_dict(json.loads(json.dumps(job.to_dict())))
    assert again == job and again.kind is QueueKind.RETRAIN and again.params == {"epochs": 3}


# --- order and the slot ---------------------------------------------------------------


def test_fifo_order_and_positions(queue: JobQueue, tmp_path: Path) -> None:
    jobs = _enqueue(queue, tmp_path, "abc")
    assert _ids(queue.jobs()) == _ids(jobs)
    assert [queue.position(j.id) for j in jobs] == [1, 2, 3]
    assert [j.state for j in queue.jobs()] == [JobState.QUEUED] * 3


def test_claim_takes_one_job_at_a_time(queue: JobQueue, tmp_path: Path) -> None:
    first, second = _enqueue(queue, tmp_path, "ab")
    got = queue.claim_next("host", 11)
    assert got is not None and got.id == first.id and got.state is JobState.RUNNING
    assert (got.host, got.pid) == ("host", 11)
    assert queue.claim_next("host", 12) is None  # the slot is taken
    assert queue.position(first.id) is None and queue.position(second.id) == 1
    queue.finish(first.id, JobState.FINISHED, "done")
    assert queue.claim_next("host", 12).id == second.id
    assert queue.claim_next("host", 13) is None


def test_finish_needs_a_running_job_and_an_end_state(queue: JobQueue, tmp_path: Path) -> None:
    (job,) = _enqueue(queue, tmp_path, "a")
    with pytest.raises(QueueError, match="only a running job"):
        queue.finish(job.id, JobState.FAILED)
    queue.claim_next("h", 1)
    with pytest.raises(QueueError, match="ends as one of"):
        queue.finish(job.id, JobState.QUEUED)
    ended = queue.finish(job.id, "failed", "out of memory")
    assert ended.state is JobState.FAILED and ended.message == "out of memory"
    assert _ids(queue.history(10)) == [job.id] and queue.jobs() == []


def test_duplicate_enqueue_for_a_run_is_refused(queue: JobQueue, tmp_path: Path) -> None:
    job = queue.enqueue("search", tmp_path / "run", "ann")
    with pytest.raises(QueueError, match=rf"run already has job {job.id}.*ann"):
        queue.enqueue("resume", tmp_path / "run" / ".." / "run", "bob")
    queue.claim_next("h", 1)
    with pytest.raises(QueueError, match="running"):
        queue.enqueue("retrain", tmp_path / "run", "ann")
    queue.finish(job.id, JobState.FINISHED)
    assert queue.enqueue("retrain", tmp_path / "run", "ann").kind is QueueKind.RETRAIN


def test_bad_job_fields_are_refused(queue: JobQueue, tmp_path: Path) -> None:
    with pytest.raises(QueueError, match="kind is one of"):
        queue.enqueue("train", tmp_path / "r", "ann")
    with pytest.raises(QueueError, match="JSON"):
        queue.enqueue("search", tmp_path / "r", "ann", params={"f": object()})
    with pytest.raises(QueueError, match="budget"):
        queue.enqueue("search", tmp_path / "r", "ann", budget_s=-1)
    with pytest.raises(QueueError, match="No job 99"):
        queue.get(99)


# --- permissions ----------------------------------------------------------------------


def test_cancel_by_owner_or_admin_only(queue: JobQueue, tmp_path: Path) -> None:
    a, b = _enqueue(queue, tmp_path, "ab")
    with pytest.raises(QueueError, match=f"Job {a.id} belongs to a; b may not cancel"):
        queue.cancel(a.id, _member("b"))
    assert queue.cancel(a.id, _member("a")).state is JobState.CANCELLED
    assert queue.cancel(b.id, _admin("root")).message == "cancelled by root"
    assert queue.jobs() == []
    with pytest.raises(QueueError, match="already ended"):
        queue.cancel(a.id, _member("a"))


def test_a_running_job_is_not_cancelled_from_the_queue(queue: JobQueue, tmp_path: Path) -> None:
    (job,) = _enqueue(queue, tmp_path, "a")
    queue.claim_next("h", 1)
    with pytest.raises(QueueError, match="is running; stop its run"):
        queue.cancel(job.id, _admin("a"))


def test_member_moves_within_own_share(queue: JobQueue, tmp_path: Path) -> None:
    b0, a1, a2, a3, b4 = _enqueue(queue, tmp_path, "baaab")
    assert queue.move(a3.id, -2, _member("a")) == 2
    assert _ids(queue.jobs()) == _ids([b0, a3, a1, a2, b4])
    assert queue.move(a3.id, 1, _member("a")) == 3
    assert _ids(queue.jobs()) == _ids([b0, a1, a3, a2, b4])


def test_member_cannot_pass_another_users_job(queue: JobQueue, tmp_path: Path) -> None:
    b0, a1, a2, b3 = _enqueue(queue, tmp_path, "baab")
    before = _ids(queue.jobs())
    with pytest.raises(QueueError, match=f"would pass job {b0.id} of b"):
        queue.move(a1.id, -1, _member("a"))
    with pytest.raises(QueueError, match=f"would pass job {b3.id} of b"):
        queue.move(a2.id, 5, _member("a"))
    with pytest.raises(QueueError, match="belongs to b"):
        queue.move(b3.id, -1, _member("a"))
    assert _ids(queue.jobs()) == before


def test_admin_moves_anywhere_and_moves_stop_at_the_ends(queue: JobQueue,
                                                         tmp_path: Path) -> None:
    b0, a1, c2 = _enqueue(queue, tmp_path, "bac")
    assert queue.move(c2.id, -10, _admin("root")) == 1
    assert _ids(queue.jobs()) == _ids([c2, b0, a1])
    with pytest.raises(QueueError, match="would pass"):
        queue.move(c2.id, 10, _member("c"))
    assert queue.move(a1.id, 1, _member("a")) == 3  # already last: stays
    assert queue.move(b0.id, 7, _admin("root")) == 3
    assert _ids(queue.jobs()) == _ids([c2, a1, b0])


# --- time estimates -------------------------------------------------------------------


def test_estimated_starts_add_budgets_in_order(queue: JobQueue, tmp_path: Path) -> None:
    running, a, b, c = (queue.enqueue("search", tmp_path / f"r{i}", "ann", budget_s=budget)
                        for i, budget in enumerate((600.0, 100.0, None, 50.0)))
    assert queue.estimated_starts(None, 300.0) == {running.id: 0.0, a.id: 600.0,
                                                  b.id: 700.0, c.id: 1000.0}
    queue.claim_next("h", 1)
    assert queue.estimated_starts(120.0, 300.0) == {a.id: 120.0, b.id: 220.0, c.id: 520.0}


def test_estimated_starts_use_the_running_budget_when_time_left_is_unknown(
        tmp_path: Path) -> None:
    clock = Clock(1000.0)
    queue = JobQueue(tmp_path / "q.sqlite3", clock=clock)
    queue.enqueue("search", tmp_path / "r0", "ann", budget_s=600.0)
    waiting = queue.enqueue("search", tmp_path / "r1", "ann")
    queue.claim_next("h", 1)
    clock.now += 200.0
    assert queue.estimated_starts(None, 300.0) == {waiting.id: 400.0}
    clock.now += 1000.0  # overran its budget: starts "now", never in the past
    assert queue.estimated_starts(None, 300.0) == {waiting.id: 0.0}


# --- restarts and damaged files ---------------------------------------------------------


def test_a_dead_running_job_goes_back_once_then_is_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    first = JobQueue(path)
    running, a, b = _enqueue(first, tmp_path, "abc")
    first.claim_next("host", 4242)
    again = JobQueue(path)  # the server restarted, or another server polls
    assert again.recover(lambda job: True) == []  # still alive: left alone
    (back,) = again.recover(lambda job: job.pid != 4242)
    assert back.id == running.id and back.state is JobState.QUEUED and back.requeues == 1
    assert "4242" in back.message and back.pid is None
    assert _ids(again.jobs()) == [running.id, a.id, b.id]  # at the head, the rest in order
    assert again.recover(lambda job: False) == []  # nothing runs: nothing to recover
    assert again.claim_next("host", 5151).id == running.id
    (lost,) = again.recover(lambda job: job.pid != 5151)  # it died a second time
    assert lost.id == running.id and lost.state is JobState.INTERRUPTED
    assert "5151" in lost.message and lost.state.is_resumable()
    assert _ids(again.jobs()) == [a.id, b.id]
    assert again.claim_next("host", 5).id == a.id  # the slot is free again, in order
    assert again.recover(lambda job: True) == []


def test_a_queue_of_the_first_schema_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    JobQueue(path).enqueue("search", tmp_path / "r", "ann")
    with sqlite3.connect(path) as conn:  # what version 1 wrote: no requeues column
        conn.execute("ALTER TABLE jobs DROP COLUMN requeues")
        conn.execute("PRAGMA user_version = 1")
    (job,) = JobQueue(path).jobs()
    assert job.owner == "ann" and job.requeues == 0


def test_a_killed_process_its_parent_has_not_reaped_counts_as_gone(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    job = QueuedJob(1, QueueKind.SEARCH, str(tmp_path), "ann", host=socket.gethostname(),
                    pid=child.pid, state=JobState.RUNNING)
    try:
        assert process_alive(job)
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process_alive(job):  # a zombie until reaped: signal 0 still finds it
            assert time.monotonic() < deadline, "a killed, unreaped process counted as alive"
            time.sleep(0.05)
    finally:
        child.kill()
        child.wait()
    assert not process_alive(job)


def test_another_hosts_job_lives_while_its_run_lock_beats(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    started = time.time() - STALE_S - 5
    job = QueuedJob(1, QueueKind.SEARCH, str(run), "ann", host="lab-2", pid=4242,
                    state=JobState.RUNNING, started=time.time())
    assert process_alive(job)  # just claimed there: no heartbeat yet, and none needed
    job = replace(job, started=started)
    assert not process_alive(job)  # long started, and nobody holds its run: lab-2 is gone
    lock = FileLock(run / "owner.lock", "run")
    lock.lock_path.touch()
    beat = LockHolder(4242, "lab-2", started, time.time(), kind="search")
    atomic.write_json(lock.holder_path, beat.to_dict())
    assert process_alive(job)  # lab-2 beats on the shared disk
    atomic.write_json(lock.holder_path, replace(beat, heartbeat=started).to_dict())
    assert not process_alive(job)  # it stopped beating: the power went there


def test_a_file_that_is_not_a_queue_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    path.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(QueueError, match=r"queue\.sqlite3 cannot be used.*move the file aside"):
        JobQueue(path)
    assert path.read_bytes().startswith(b"this is not")  # left for a person to look at


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(QueueError, match="schema version 99"):
        JobQueue(path)


def test_opening_twice_is_idempotent_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    JobQueue(path).enqueue("search", tmp_path / "r", "ann")
    assert len(JobQueue(path).jobs()) == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --- several processes ----------------------------------------------------------------


def _claim_once(path: str, barrier: Any, results: Any) -> None:
    queue = JobQueue(path)
    barrier.wait()
    job = queue.claim_next("host", multiprocessing.current_process().pid or 0)
    results.put(None if job is None else job.id)


def _enqueue_many(path: str, owner: str, count: int, barrier: Any,
                  results: Any) -> None:
    queue = JobQueue(path)
    barrier.wait()
    results.put([queue.enqueue("search", f"{path}-{owner}-{i}", owner).id for i in range(count)])


def _run_processes(target: Any, args_list: list[tuple[Any, ...]]) -> list[Any]:
    """Start one process per args tuple (with a shared barrier and result queue); bounded."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(args_list)), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, results)) for args in args_list]
    # a page test (AppTest) before this one leaves app.py as __main__, which a spawned child
    # would run first: give the children a bare one
    with mock.patch.dict(sys.modules, {"__main__": types.ModuleType("__main__")}):
        for proc in procs:
            proc.start()
    try:
        out = [results.get(timeout=PROCESS_TIMEOUT_S) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=PROCESS_TIMEOUT_S)
            if proc.is_alive():
                proc.kill()
    assert all(proc.exitcode == 0 for proc in procs)
    return out


def test_processes_claiming_at_once_never_both_get_a_job(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    jobs = _enqueue(JobQueue(path), tmp_path, "abc")
    got = _run_processes(_claim_once, [(str(path),)] * 3)
    assert sorted(got, key=str) == [jobs[0].id, None, None]
    assert [j.state for j in JobQueue(path).jobs()] == [JobState.RUNNING, JobState.QUEUED,
                                                         JobState.QUEUED]


def _drain(path: str, barrier: Any, results: Any) -> None:
    """A dispatcher in a loop: claim, run (finish), claim again, until nothing waits."""
    queue, mine = JobQueue(path), []
    pid = multiprocessing.current_process().pid or 0
    barrier.wait()
    while queue.jobs():
        job = queue.claim_next("host", pid)
        if job is not None:
            mine.append(job.id)
            queue.finish(job.id, JobState.FINISHED, f"run by {pid}")
    results.put(mine)


def test_many_dispatchers_draining_one_queue_run_each_job_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    jobs = _enqueue(JobQueue(path), tmp_path, "ab" * 12)
    claimed = _run_processes(_drain, [(str(path),)] * 8)
    ran = [job_id for mine in claimed for job_id in mine]
    assert sorted(ran) == _ids(jobs)  # every job once: none twice, none lost
    done = JobQueue(path).history(limit=100)
    assert {job.state for job in done} == {JobState.FINISHED} and len(done) == len(jobs)
    for job in done:  # each finished by the process that claimed it
        assert job.message == f"run by {job.pid}"


def test_two_users_queuing_at_once_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    JobQueue(path)
    ids_a, ids_b = _run_processes(_enqueue_many, [(str(path), "ann", 20), (str(path), "bob", 20)])
    jobs = JobQueue(path).jobs()
    assert sorted(_ids(jobs)) == sorted(ids_a + ids_b) and len(set(_ids(jobs))) == 40
    assert len({job.position for job in jobs}) == 40
    for owner in ("ann", "bob"):  # each user's jobs keep the order they were queued in
        mine = [job for job in jobs if job.owner == owner]
        assert [job.run_dir.rsplit("-", 1)[1] for job in mine] == [str(i) for i in range(20)]


def test_default_path_is_in_the_workspace(workspace: Path) -> None:
    assert JobQueue().path == workspace / "queue.sqlite3"
    assert (workspace / "queue.sqlite3").is_file()
