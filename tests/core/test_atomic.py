"""One atomic write for the whole engine (tuning_core/core/atomic.py): whole or not at all."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tuning_core.core import atomic
from tuning_core.lab.files import atomic_write_text


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_write_replaces_whole_with_the_asked_permissions(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    atomic.write_json(path, {"b": 1, "a": 2}, sort_keys=True)
    assert path.read_text() == '{\n "a": 2,\n "b": 1\n}'
    atomic.write_text(path, "shared", mode=0o644)
    assert path.read_text() == "shared" and mode(path) == 0o644
    atomic_write_text(path, "secret")  # the lab's files: private to the server's user
    assert path.read_text() == "secret" and mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary left behind


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path,
                                                             monkeypatch) -> None:
    path = tmp_path / "a.txt"
    atomic.write_text(path, "old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        atomic.write_text(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
