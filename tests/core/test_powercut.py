"""Power cut mid-write (issue 27): writers of every kind of precious file killed with SIGKILL
at random moments; every file then reads whole, old or new, through the product's readers.

The harness is the fault soak's (``bench/soak/powercut.py``): a forked writer per kill, writing
through the product's own code (``RunDir.create``, ``edit_notes``, the job queue, a ``best/``
swap, the exports manifest, lab accounts, the audit log), and a third of the kills of the
files that keep a previous version also lose the newest data, as a file system may.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bench.soak.powercut import KINDS, TORN_KINDS, run_powercut
from tuning_core.core import atomic
from tuning_core.lab.accounts import Role, ScryptParams, UserStore
from tuning_core.lab.audit import AuditAction, AuditEvent, AuditLog
from tuning_core.runs.rundir import RunDir

KILLS = 49  # 7 of each kind


def test_every_file_reads_whole_after_kills_at_random_moments(tmp_path: Path) -> None:
    report = run_powercut(tmp_path, kills=KILLS, seed=27)
    assert report.problems == []
    assert report.kills == {kind: KILLS // len(KINDS) for kind in KINDS}
    assert report.torn > 0 and report.restored == report.torn  # each cut file came back
    # the kills landed in writing, not before it: most kinds got versions out first
    assert sum(count > 0 for count in report.versions.values()) >= 3, report.versions
    assert set(TORN_KINDS) <= set(KINDS)


def test_a_file_left_empty_or_cut_short_is_restored_from_its_previous_version(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "notes.json"
    atomic.write_json(path, {"v": 1}, keep_previous=True)
    assert atomic.read_json(atomic.backup_path(path)) == {"v": 1}  # the first: a spare copy
    atomic.write_json(path, {"v": 2}, keep_previous=True)
    assert atomic.read_json(atomic.backup_path(path)) == {"v": 1}  # the one replaced
    for damage in (b"", b'{"v": '):  # zero length, and the end lost
        path.write_bytes(damage)
        with caplog.at_level(logging.WARNING, logger=atomic.__name__):
            assert atomic.read_json(path) == {"v": 1}
        assert "restored its previous version" in caplog.text and str(path) in caplog.text
        assert atomic.read_json(path) == {"v": 1}  # put back in place, not only answered
        caplog.clear()
    path.write_bytes(b"{")  # an unreadable current file never displaces a good spare
    atomic.write_json(path, {"v": 3}, keep_previous=True)
    assert atomic.read_json(atomic.backup_path(path)) == {"v": 1}


def test_without_a_readable_previous_version_the_error_stays(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b"")
    with pytest.raises(ValueError):
        atomic.read_json(path)
    atomic.backup_path(path).write_bytes(b"{")
    with pytest.raises(ValueError):
        atomic.read_json(path)


def test_run_json_notes_split_and_accounts_come_back_through_their_readers(tmp_path: Path,
                                                                     image_folder: Path) -> None:
    from tuning_core.data.dataset import ImageConfig
    from tuning_core.runs.catalogue import edit_notes
    from tuning_core.runs.schema import RunConfig, TunerSettings
    from tuning_core.space.presets import get_preset

    config = RunConfig(data_dir=str(image_folder), space=get_preset("small"), name="kept",
                       image=ImageConfig(16, "rgb"), tuner=TunerSettings(tuner="random"))
    run = RunDir.create(tmp_path / "runs", config)
    edit_notes(run.path, "first", "one", [])
    edit_notes(run.path, "second", "two", [])
    run.save_split({"train": ["a.png"], "classes": ["dark", "light"]})
    run.file("run.json").write_bytes(b"")
    run.file("notes.json").write_bytes(b'{"schema_version": 1, "na')
    run.file("split.json").write_bytes(b'{"train": ["a.p')
    assert RunDir(run.path).config().name == "kept"
    assert RunDir(run.path).notes().name == "first"  # the version before the lost one
    assert RunDir(run.path).load_split() == {"train": ["a.png"], "classes": ["dark", "light"]}
    store = UserStore(tmp_path / "users.json", ScryptParams(n=2**4))
    store.add("ann", Role.ADMIN, "password-1")
    store.add("bob", Role.MEMBER, "password-2")
    store.path.write_bytes(store.path.read_bytes()[:40])
    assert [u.name for u in UserStore(store.path).users()] == ["ann"]


def test_the_audit_log_skips_a_torn_last_line_and_goes_on_on_a_fresh_one(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    first = log.append(AuditEvent(AuditAction.LOGIN, detail="before"))
    with log.path.open("ab") as handle:
        handle.write(b'{"action": "login", "detail": "cut sh')  # the power went mid-line
    assert log.latest(10) == [first]
    after = log.append(AuditEvent(AuditAction.LOGOUT, detail="after"))
    assert log.latest(10) == [first, after]
    lines = log.path.read_bytes().split(b"\n")
    assert lines[1].endswith(b"cut sh") and lines[-1] == b""  # kept, and on its own line
