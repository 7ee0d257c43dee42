"""Run locks and the machine's training slot, across threads, processes and (simulated) hosts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuning_core.core.errors import JobBusyError, LockHeldError
from tuning_core.runs import locks
from tuning_core.runs.locks import FileLock, LockHolder, machine_slot

HOLD = """
import sys, time
from tuning_core.runs.locks import FileLock, LockHolder
lock = FileLock(sys.argv[1], "Run test")
lock.acquire(LockHolder.mine("search", "bob", "test"))
print("held", flush=True)
time.sleep(60)
"""
ROOT = Path(__file__).resolve().parents[2]


def _holder_process(lock_path: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_acquire_is_refused_with_the_holder(tmp_path: Path) -> None:
    first = FileLock(tmp_path / "owner.lock", "Run r")
    second = FileLock(tmp_path / "owner.lock", "Run r")
    first.acquire(LockHolder.mine("search", "alice", "r"))
    try:
        with pytest.raises(LockHeldError, match=f"pid {os.getpid()}.*search, for alice"):
            second.acquire(LockHolder.mine("search"))
        assert second.holder().user == "alice"  # a second object in the same process sees it
    finally:
        first.release()
    assert second.holder() is None
    second.acquire(LockHolder.mine("retrain"))
    second.release()
    assert not (tmp_path / "owner.json").exists()


def test_a_lock_held_by_another_process_is_refused_until_it_dies(tmp_path: Path) -> None:
    path = tmp_path / "owner.lock"
    proc = _holder_process(path)
    try:
        holder = FileLock(path, "Run test").holder()
        assert holder is not None and holder.pid == proc.pid and holder.user == "bob"
        with pytest.raises(LockHeldError, match=f"pid {proc.pid}"):
            FileLock(path, "Run test").acquire(LockHolder.mine("search"))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    # kill -9 leaves its owner record behind, but the OS released the lock: the owner is dead
    assert (tmp_path / "owner.json").exists()
    assert FileLock(path, "Run test").holder() is None
    lock = FileLock(path, "Run test")
    lock.acquire(LockHolder.mine("search"))
    lock.release()


def _remote_record(path: Path, age: float) -> None:
    now = time.time()
    record = LockHolder(pid=1, host="other-machine", started=now - 600, heartbeat=now - age,
                       kind="search", user="carol", target="r")
    path.with_suffix(".json").write_text(json.dumps(record.to_dict()))


def test_another_hosts_fresh_heartbeat_holds_and_a_stale_one_does_not(tmp_path: Path) -> None:
    path = tmp_path / "owner.lock"
    path.touch()
    _remote_record(path, age=2)  # a machine whose lock this file system does not share
    assert FileLock(path, "Run r").holder().host == "other-machine"
    with pytest.raises(LockHeldError, match="other-machine"):
        FileLock(path, "Run r").acquire(LockHolder.mine("search"))
    _remote_record(path, age=locks.STALE_S + 5)  # it died: its heartbeat stopped
    assert FileLock(path, "Run r").holder() is None
    lock = FileLock(path, "Run r")
    lock.acquire(LockHolder.mine("search"))
    lock.release()


def test_heartbeat_is_refreshed_while_held(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(locks, "HEARTBEAT_S", 0.05)
    lock = FileLock(tmp_path / "owner.lock", "Run r")
    lock.acquire(LockHolder.mine("search"))
    try:
        first = json.loads((tmp_path / "owner.json").read_text())["heartbeat"]
        deadline = time.time() + 5
        while json.loads((tmp_path / "owner.json").read_text())["heartbeat"] == first:
            assert time.time() < deadline, "heartbeat never refreshed"
            time.sleep(0.02)
    finally:
        lock.release()


def test_the_machine_slot_is_one_per_machine(machine_slot_dir: Path) -> None:
    proc = _holder_process(machine_slot_dir / "slot.lock")
    try:
        with pytest.raises(JobBusyError, match="training slot is held by pid"):
            machine_slot().acquire(LockHolder.mine("search"))
    finally:
        proc.kill()
        proc.wait(10)
    slot = machine_slot()
    slot.acquire(LockHolder.mine("search"))
    slot.release()
