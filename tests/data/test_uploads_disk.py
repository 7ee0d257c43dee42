"""Uploads on a disk that fills, and what a kill leaves (issue 27), on a real small tmpfs: an
upload the disk cannot hold is refused before a byte is written, in one line; one cut short
by a disk that fills leaves no dataset at all (nothing that looks whole); a killed upload's
hidden folder is never listed and the next upload removes it."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tuning_core.data.uploads import UploadError, extract_zip, list_datasets, save_images

ROOT = Path(__file__).resolve().parents[2]
MB = 1 << 20


def _zip(files: int, each: int) -> bytes:
    """A zip of two classes of ``files`` incompressible ``.png``-named files of ``each``
    bytes (the checks go by name; what is measured is the bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for k in range(files):
            archive.writestr(f"{'ab'[k % 2]}/img{k}.png", os.urandom(each))
    return buffer.getvalue()


def _entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def test_an_upload_the_disk_cannot_hold_is_refused_before_a_byte_is_written(
        small_disk: Callable[[str], Path]) -> None:
    disk = small_disk("2m")
    data = disk / "data"
    with pytest.raises(UploadError) as refused:
        extract_zip(io.BytesIO(_zip(6, 400_000)), data, "big", "ann")
    message = str(refused.value)
    assert message.startswith("disk full: ") and f"free on {disk}" in message
    assert "the upload big needs about 2.5 MB" in message and "\n" not in message
    with pytest.raises(UploadError, match="the upload loose needs about"):
        save_images([(f"x{k}.png", io.BytesIO(os.urandom(500_000))) for k in range(4)],
                    data, "loose", "cats", "ann")
    assert _entries(data) == set()


def test_a_disk_that_fills_midway_leaves_no_dataset_and_the_next_upload_fits(
        small_disk: Callable[[str], Path]) -> None:
    disk = small_disk("6m")
    data = disk / "data"
    payload = _zip(8, 300_000)  # 2.4 MB: fits the estimate with 6 MB free

    def another_writer_fills_the_disk(done: int, total: int) -> None:
        if done and not (disk / "filler").exists():
            with open(disk / "filler", "wb") as out:
                out.write(b"\0" * (shutil.disk_usage(disk).free - 100_000))

    with pytest.raises(UploadError) as stopped:
        extract_zip(io.BytesIO(payload), data, "cut", "ann", progress=another_writer_fills_the_disk)
    message = str(stopped.value)
    assert message.startswith("disk full: ") and "the upload cut was not kept" in message
    assert _entries(data) == set() and list_datasets(data) == []  # not even a hidden half
    (disk / "filler").unlink()
    dataset = extract_zip(io.BytesIO(payload), data, "cut", "ann")
    assert dataset.files == 8 and dataset.bytes == 8 * 300_000


KILLED = """
import io, os, signal, sys
from pathlib import Path
from tuning_core.data.uploads import extract_zip
def die(done, total):
    if done:
        os.kill(os.getpid(), signal.SIGKILL)
extract_zip(io.BytesIO(Path(sys.argv[1]).read_bytes()), Path(sys.argv[2]), "half", "ann",
            progress=die)
"""


def test_a_killed_upload_is_never_listed_and_the_next_upload_removes_it(
        tmp_path: Path) -> None:
    source, data = tmp_path / "upload.zip", tmp_path / "data"
    source.write_bytes(_zip(4, 1000))
    killed = subprocess.run([sys.executable, "-c", KILLED, str(source), str(data)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    left = _entries(data)
    assert len(left) == 1 and next(iter(left)).startswith(".upload-half+")  # hidden, half
    assert list_datasets(data) == []
    extract_zip(io.BytesIO(source.read_bytes()), data, "half", "ann")
    assert _entries(data) == {"half"}
    assert [d.files for d in list_datasets(data)] == [4]


ADDING_KILLED = """
import io, os, signal, sys
from pathlib import Path
from tuning_core.data.uploads import save_images
real, calls = os.replace, []
def replace(src, dst):  # the journal, one image in, then the kill
    calls.append(dst)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
os.replace = replace
save_images([(f"more{k}.png", io.BytesIO(b"x" * 100)) for k in range(3)], Path(sys.argv[1]),
            "mine", "a", "ann")
"""


def test_images_added_to_a_dataset_by_an_upload_killed_midway_all_go_in(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    save_images([(f"first{k}.png", io.BytesIO(b"y" * 50)) for k in range(2)], data, "mine",
                "a", "ann")
    killed = subprocess.run([sys.executable, "-c", ADDING_KILLED, str(data)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    whole = [p for p in (data / "mine" / "a").iterdir() if p.stat().st_size]
    assert len(whole) == 3  # half the batch (and a name reserved), until...
    dataset, = list_datasets(data)  # ...the next listing finishes the batch
    assert sorted(p.name for p in (data / "mine" / "a").iterdir()) == \
        ["first0.png", "first1.png", "more0.png", "more1.png", "more2.png"]
    assert (dataset.files, dataset.bytes) == (5, 2 * 50 + 3 * 100)
    assert _entries(data) == {"mine"}  # the staging folder is gone
