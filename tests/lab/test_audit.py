"""The audit log and the lab config file."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from tuning_core.core.errors import LabConfigError
from tuning_core.lab.accounts import Role, User
from tuning_core.lab.audit import AuditAction, AuditEvent, AuditLog, Outcome, audit_log
from tuning_core.lab.config import LabConfig, load_lab_config, save_lab_config


def test_events_round_trip_and_latest_reads_the_end(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    assert log.latest(5) == []
    alice = User("alice", Role.MEMBER)
    for n in range(300):
        log.record(AuditAction.LAUNCH, user=alice, address="10.0.0.1", target=f"run-{n}")
    log.record(AuditAction.STOP, Outcome.DENIED, user=alice, target="run-x", detail="x" * 10_000)
    latest = log.latest(3)
    assert [e.target for e in latest] == ["run-298", "run-299", "run-x"]
    assert latest[-1].outcome is Outcome.DENIED and latest[-1].role == "member"
    assert len(latest[-1].detail) == 300 and latest[-1].time > 0
    assert AuditEvent.from_dict(latest[0].to_dict()) == latest[0]
    assert AuditAction.USER_ADD.is_account_change and not AuditAction.LOGIN.is_account_change


def _append_many(path: str, tag: str) -> None:
    log = AuditLog(Path(path))
    for n in range(200):
        log.record(AuditAction.UPLOAD, target=f"{tag}-{n}", detail="y" * 200)


def test_lines_from_two_processes_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    procs = [multiprocessing.get_context("fork").Process(target=_append_many, args=(str(path), t))
             for t in "ab"]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    lines = path.read_text().splitlines()
    assert len(lines) == 400 and all(json.loads(line)["action"] == "upload" for line in lines)


def test_workspace_log_location(workspace: Path) -> None:
    assert audit_log().path == workspace / "audit.jsonl"


def test_lab_config_round_trips_and_validates(workspace: Path) -> None:
    assert load_lab_config() == LabConfig()  # no file: the defaults
    config = LabConfig(allowed_hosts=("lab.example",), data_roots=("/srv/data",), session_hours=2)
    path = save_lab_config(config)
    assert path == workspace / "lab" / "config.json" and load_lab_config() == config
    assert LabConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    for bad, message in (({"session_hours": 0}, "session_hours"), ({"colour": "red"}, "unknown"),
                         ({"tls_cert": "/nope.pem"}, "both tls_cert and tls_key"),
                         ({"version": 9}, "version")):
        path.write_text(json.dumps(bad))
        with pytest.raises(LabConfigError, match=message):
            load_lab_config()


def test_an_append_the_disk_has_no_room_for_is_one_line_and_the_log_stays_whole(
        small_disk) -> None:
    from tests.disks import fill
    from tuning_core.core.errors import DiskFullError

    disk = small_disk("600k")
    log = AuditLog(disk / "audit.jsonl")
    log.record(AuditAction.LAUNCH, target="before")
    filler = fill(disk)
    with pytest.raises(DiskFullError) as refused:
        for n in range(2_000):  # a block's slack may hold a few lines first
            log.record(AuditAction.LAUNCH, target=f"lost-{n}", detail="x" * 200)
    assert str(refused.value) == f"disk full: 0.0 MB free on {disk} for the lab's audit log"
    held = [e.target for e in log.latest(5_000)]
    assert held[0] == "before" and all(t.startswith("lost-") for t in held[1:])
    filler.unlink()
    log.record(AuditAction.STOP, target="after")  # a torn line is skipped, the next is whole
    assert log.latest(1)[0].target == "after"
    lines = (disk / "audit.jsonl").read_text().splitlines()
    assert sum(1 for line in lines if _whole(line)) == len(held) + 1


def _whole(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
