"""The dashboard's classify jobs: queued in order, stopped, resumed, refused by role or root."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import write_image_folder
from tuning_core.core.errors import AccessDeniedError, PermissionDeniedError, SettingsError
from tuning_core.jobs.classify import ClassifyQueue, ClassifyState
from tuning_core.lab.accounts import Role, User
from tuning_core.lab.actor import Actor
from tuning_core.lab.audit import AuditLog
from tuning_core.model.classify import read_results

pytestmark = pytest.mark.training


@pytest.fixture
def run_copy(augmented_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "runs" / augmented_run.name
    shutil.copytree(augmented_run, copy, ignore=shutil.ignore_patterns("tuner", "cache"))
    return copy


def test_jobs_run_in_order_and_write_their_csv(run_copy: Path, tmp_path: Path) -> None:
    queue = ClassifyQueue()
    first_folder = write_image_folder(tmp_path / "first", {"a": 20, "c": 20}, size=32)
    first = queue.submit(run_copy, first_folder, threshold=0.9)
    second = queue.submit(run_copy, uploads=[("../x/one.png", (first_folder / "a" / "a_000.png")
                                               .read_bytes()), ("notes.txt", b"text")])
    assert first.total == 40 and second.total == 1
    assert (second.path / "uploads" / "one.png").is_file()  # the name's path dropped
    assert queue.wait(timeout=120)
    jobs = {j.id: j for j in queue.jobs(run_copy)}
    done = jobs[first.id]
    assert done.state is ClassifyState.FINISHED and done.done == 40 and done.fraction == 1.0
    assert done.result["classified"] == 40 and done.started >= jobs[first.id].created
    assert len(read_results(done.csv_path)) == 40
    assert jobs[second.id].state is ClassifyState.FINISHED
    assert jobs[second.id].started >= done.ended  # one at a time, in order


def test_stop_resume_and_interrupted(run_copy: Path, tmp_path: Path) -> None:
    queue = ClassifyQueue()
    folder = write_image_folder(tmp_path / "many", {"a": 150, "b": 150}, size=32)
    running = queue.submit(run_copy, folder)
    queued = queue.submit(run_copy, folder)
    queue.stop(queued)  # off the queue before it starts
    queue.stop(running)
    assert queue.wait(timeout=120)
    jobs = {j.id: j for j in queue.jobs(run_copy)}
    assert jobs[queued.id].state is ClassifyState.STOPPED and jobs[queued.id].done == 0
    stopped = jobs[running.id]
    assert stopped.state is ClassifyState.STOPPED and stopped.done < 300
    queue.resume(stopped)
    assert queue.wait(timeout=120)
    finished = {j.id: j for j in queue.jobs(run_copy)}[running.id]
    assert finished.state is ClassifyState.FINISHED and finished.result["classified"] == 300
    assert finished.result["resumed_from"] == stopped.done
    # a job that a gone process left running shows as interrupted and resumes
    ghost = queue.jobs(run_copy)[0]
    ghost.state = ClassifyState.RUNNING
    ghost.save()
    assert ClassifyQueue().jobs(run_copy)[0].state is ClassifyState.INTERRUPTED


def test_lab_mode_roles_roots_and_audit(run_copy: Path, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    root = tmp_path / "data"
    inside = write_image_folder(root / "inside", {"a": 3}, size=32)
    outside = write_image_folder(tmp_path / "outside", {"a": 3}, size=32)
    settings = json.loads((run_copy / "run.json").read_text())
    (run_copy / "run.json").write_text(json.dumps({**settings, "owner": "ann"}))
    owner = Actor(User("ann", Role.MEMBER), audit=audit, roots=[root])
    other = Actor(User("bob", Role.MEMBER), audit=audit, roots=[root])
    queue = ClassifyQueue()
    with pytest.raises(PermissionDeniedError, match="admin"):
        queue.submit(run_copy, inside, actor=other)  # as a retrain: not another's run
    with pytest.raises(PermissionDeniedError):
        queue.submit(run_copy, inside, actor=Actor(User("vic", Role.VIEWER), audit=audit,
                                                   roots=[root]))
    with pytest.raises(AccessDeniedError):
        queue.submit(run_copy, outside, actor=owner)
    with pytest.raises(SettingsError, match="probability"):
        queue.submit(run_copy, inside, threshold=-1, actor=owner)
    job = queue.submit(run_copy, inside, actor=owner)
    assert queue.wait(timeout=60) and job.owner == "ann"
    lines = [(e.action.value, e.user, e.outcome.value) for e in audit.latest()]
    assert ("classify", "ann", "ok") in lines and ("classify", "vic", "denied") in lines
