"""Free space measured before a write, and "no space left" recognised however it comes."""

from __future__ import annotations

import errno
import os
from collections import namedtuple
from pathlib import Path

import pytest

from tuning_core.core import diskspace
from tuning_core.core.errors import DiskFullError, TuningError

Usage = namedtuple("Usage", "total used free")
H5PY_TEXT = ("[Errno 28] Can't synchronously write data (file write failed: ..., errno = 28, "
             "error message = 'No space left on device', ...)")


def _free(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    monkeypatch.setattr(diskspace.shutil, "disk_usage", lambda path: Usage(10**9, 0, free))


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device"),
    OSError(errno.EDQUOT, "Disk quota exceeded"),
    RuntimeError(H5PY_TEXT),  # h5py's message, wrapped by KerasTuner as text
    DiskFullError("disk full: 0.1 MB free on /", 100_000, "/"),
])
def test_no_space_left_is_recognised(error: BaseException) -> None:
    assert diskspace.is_disk_full(error)


def test_no_space_left_is_recognised_through_the_errors_it_caused() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise ValueError("the trial failed") from inner
    except ValueError as outer:
        assert diskspace.is_disk_full(outer)


@pytest.mark.parametrize("error", [OSError(errno.EACCES, "Permission denied"),
                                   ValueError("bad value"), None])
def test_other_errors_are_not_a_full_disk(error: BaseException | None) -> None:
    assert not diskspace.is_disk_full(error)


def test_the_message_says_how_much_is_free_and_on_which_filesystem(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _free(monkeypatch, 700_000)
    error = diskspace.full_error(tmp_path / "run" / "best", 2_500_000, "the best model")
    assert isinstance(error, TuningError)
    mount = diskspace.filesystem(tmp_path)
    assert str(error) == f"disk full: 0.7 MB free on {mount}; the best model needs about 2.5 MB"
    assert (error.free_bytes, error.filesystem, error.need_bytes) == (700_000, str(mount),
                                                                       2_500_000)


def test_ensure_free_keeps_a_reserve_for_the_lines_that_report_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _free(monkeypatch, diskspace.RESERVE_BYTES + 1000)
    diskspace.ensure_free(tmp_path, 1000, "a checkpoint")
    with pytest.raises(DiskFullError, match=r"^disk full: .* a checkpoint needs about"):
        diskspace.ensure_free(tmp_path, 1001, "a checkpoint")


def test_a_folder_not_made_yet_is_measured_on_its_nearest_existing_parent(
        tmp_path: Path) -> None:
    missing = tmp_path / "a" / "b" / "c.h5"
    assert diskspace.existing(missing) == tmp_path
    assert diskspace.free_bytes(missing) > 0
    assert os.path.ismount(diskspace.filesystem(missing))


def test_megabytes_reads_well() -> None:
    assert [diskspace.megabytes(n) for n in (700_000, 12_300_000, 2_048_000_000)] == [
        "0.7 MB", "12 MB", "2,048 MB"]
