"""A full disk (issue 27) leaves nothing half-written: a job queued or a lab account changed
that the disk has no room for fails with one line saying so, and the queue and the accounts
read as they were before it, whole. A real small file system (tmpfs), really filled."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.disks import Mount, fill
from tests.lab_server import run_cli
from tuning_core.core.errors import DiskFullError
from tuning_core.jobs.queue import JobQueue, QueueError
from tuning_core.lab.accounts import Role, ScryptParams, UserStore

CHEAP = ScryptParams(n=2**4)


@pytest.fixture
def disk(small_disk: Mount) -> Path:
    """A 1 MB tmpfs (unmounted after the test)."""
    return small_disk("1m")


def test_a_job_queued_on_a_full_disk_fails_in_one_line_and_the_queue_stays_whole(
        disk: Path) -> None:
    queue = JobQueue(disk / "queue.sqlite3")
    before = [queue.enqueue("search", disk / f"r{i}", "ann") for i in range(3)]
    queue.claim_next("host", 1)
    filler = fill(disk)
    added = []
    with pytest.raises(QueueError) as refused:  # the WAL's free pages first, then the disk
        for i in range(3, 5000):
            added.append(queue.enqueue("search", disk / f"r{i}", "bob", {"pad": "x" * 500}))
    message = str(refused.value)
    assert "\n" not in message and "is unchanged: disk full: " in message
    assert f"free on {disk}" in message
    reopened = JobQueue(disk / "queue.sqlite3")  # what the next page or process reads
    assert [j.id for j in reopened.jobs()] == [j.id for j in before + added]
    assert reopened.running().id == before[0].id
    filler.unlink()  # room again: the queue goes on
    assert reopened.enqueue("search", disk / "after", "ann").id > max(j.id for j in before + added)


def test_an_account_change_on_a_full_disk_fails_in_one_line_and_the_accounts_stay(
        disk: Path) -> None:
    workspace = disk / "ws"
    (workspace / "lab").mkdir(parents=True)
    store = UserStore(workspace / "lab" / "users.json", CHEAP)
    store.add("ann", Role.ADMIN, "password-ann")
    filler = fill(disk)
    names = ["ann"]
    with pytest.raises(DiskFullError) as refused:
        for i in range(5000):
            store.add(f"user{i}", Role.MEMBER, "password-long")
            names.append(f"user{i}")
    assert "\n" not in str(refused.value) and "(it is unchanged)" in str(refused.value)
    assert [u.name for u in UserStore(store.path).users()] == sorted(names)
    done = run_cli(workspace, "user", "passwd", "ann", stdin="a-new-password\n")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: disk full: ")
    assert UserStore(store.path, CHEAP).verify("ann", "password-ann")  # the old one holds
    filler.unlink()
    done = run_cli(workspace, "user", "passwd", "ann", stdin="a-new-password\n")
    assert done.returncode == 0, done.stderr
    assert UserStore(store.path, CHEAP).verify("ann", "a-new-password")


def test_notes_edited_on_a_full_disk_fail_in_one_line_and_stay(disk: Path,
                                                              image_folder: Path) -> None:
    from tuning_core.data.dataset import ImageConfig
    from tuning_core.runs.catalogue import edit_notes
    from tuning_core.runs.rundir import RunDir
    from tuning_core.runs.schema import RunConfig, TunerSettings
    from tuning_core.space.presets import get_preset

    config = RunConfig(data_dir=str(image_folder), space=get_preset("small"),
                       image=ImageConfig(16, "rgb"), tuner=TunerSettings(tuner="random"))
    run = RunDir.create(disk / "runs", config)
    edit_notes(run.path, "kept", "short", ["a"])
    fill(disk)
    with pytest.raises(DiskFullError) as refused:
        edit_notes(run.path, "lost", "long " * 1_900, ["b"])
    assert "\n" not in str(refused.value) and "(they are unchanged)" in str(refused.value)
    assert RunDir(run.path).notes().name == "kept"
