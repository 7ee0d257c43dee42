"""Exports on a disk that fills, and what a kill leaves (issue 27): an export the disk cannot
hold is refused before a byte is written, in one line; one whose zip the disk cannot take
leaves no file under an export's name and says why; a file cut short or missing is never
offered as whole; a killed export's temporaries are removed by the next one."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.disks import fill
from tuning_core.core import leftovers
from tuning_core.core.errors import DiskFullError, ExportError
from tuning_core.model.exports import (
    ExportManifest,
    ExportRecord,
    InputSpec,
    current_exports,
    download,
    export_run,
    parse_targets,
)
from tuning_core.runs.rundir import RunDir


def _copy_onto(run_dir: Path, disk: Path) -> Path:
    copy = disk / run_dir.name
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("tuner", "cache", "exports"))
    return copy


def _bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _visible(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


@pytest.mark.training  # the shared run's model is trained once per session
def test_an_export_the_disk_cannot_hold_is_refused_before_a_byte_is_written(
        augmented_run: Path, small_disk: Callable[[str], Path]) -> None:
    model = (augmented_run / "best" / "model.keras").stat().st_size
    size = _bytes_under(augmented_run / "best") + (1 << 20) * 2 + 2 * model
    disk = small_disk(f"{size // 1024 + 200}k")
    run_dir = _copy_onto(augmented_run, disk)
    with pytest.raises(DiskFullError) as refused:
        export_run(run_dir, parse_targets(["litert"]))
    message = str(refused.value)
    assert message.startswith("disk full: ") and f"free on {disk}" in message
    assert "this export needs about" in message and "the LiteRT export" in message
    assert "\n" not in message
    assert _visible(RunDir(run_dir).exports_dir) == set()  # not a byte written


@pytest.mark.training
def test_a_disk_that_fills_while_the_zip_is_written_leaves_no_export_as_if_whole(
        augmented_run: Path, small_disk: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tuning_core.model.exports import service

    disk = small_disk("60m")
    run_dir = _copy_onto(augmented_run, disk)
    real = service.write_bundle

    def filled_first(path, target, card, dest) -> None:  # another program takes the disk
        fill(disk, leave=8 * 1024)
        real(path, target, card, dest)

    monkeypatch.setattr(service, "write_bundle", filled_first)
    record, = export_run(run_dir, parse_targets(["litert"]))
    assert not record.passed and record.reason.startswith("disk full: ")
    assert f"free on {disk}" in record.reason and "the LiteRT export" in record.reason
    exports = RunDir(run_dir).exports_dir
    assert _visible(exports) == {"manifest.json"}  # no zip, no bare file, no temporary
    with pytest.raises(ExportError, match="failed its check: disk full"):
        download(run_dir, "litert")

    (disk / "filler").unlink()
    monkeypatch.setattr(service, "write_bundle", real)
    record, = export_run(run_dir, parse_targets(["litert"]))
    assert record.passed, record.reason
    with zipfile.ZipFile(download(run_dir, "litert")) as bundle:
        assert bundle.testzip() is None


def _fake_export(tmp_path: Path) -> tuple[RunDir, ExportRecord]:
    """A run folder with a best model file and a passed ONNX export of 1,000 bytes."""
    run = RunDir(tmp_path / "run")
    run.best_dir.mkdir(parents=True)
    run.model_path.write_bytes(b"model")
    run.exports_dir.mkdir()
    (run.exports_dir / "model.onnx").write_bytes(b"m" * 400)
    (run.exports_dir / "onnx.zip").write_bytes(b"z" * 1000)
    record = ExportRecord(key="onnx", label="ONNX", runtime="ONNX Runtime", file="model.onnx",
                          bytes=400, input=InputSpec(16, "rgb", 3),
                          model_stamp=run.model_stamp() or [], bundle="onnx.zip",
                          bundle_bytes=1000)
    manifest = ExportManifest({"onnx": record})
    run.export_manifest_path.write_text(json.dumps(manifest.to_dict()))
    return run, record


def test_an_export_file_cut_short_or_missing_is_not_offered(tmp_path: Path) -> None:
    run, _ = _fake_export(tmp_path)
    assert download(run.path, "onnx").name == "onnx.zip"
    (run.exports_dir / "onnx.zip").write_bytes(b"z" * 600)  # a copy cut short
    listed, = current_exports(run.path)
    assert not listed.passed and "is 600 bytes, not the 1,000" in listed.reason
    with pytest.raises(ExportError, match="not the 1,000 it was written with; export ONNX"):
        download(run.path, "onnx")
    (run.exports_dir / "onnx.zip").unlink()
    with pytest.raises(ExportError, match=r"onnx\.zip is missing"):
        download(run.path, "onnx")


def test_a_killed_writers_temporaries_are_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    stale_dir = tmp_path / f".export-+{host}+{dead.pid}+abc"
    stale_file = tmp_path / f".onnx.zip+{host}+{dead.pid}+partial"
    live = leftovers.temporary_dir(tmp_path, ".export-")
    other_host = tmp_path / f".export-+elsewhere+{os.getpid()}+x"
    old_other = tmp_path / f".export-+elsewhere+{os.getpid()}+y"
    untagged = tmp_path / ".export-plain"
    for folder in (stale_dir, other_host, old_other, untagged):
        folder.mkdir()
    stale_file.write_bytes(b"half a zip")
    os.utime(old_other, (0, 0))  # another host's, a day old: its writer is gone
    removed = leftovers.remove_stale(tmp_path, ".")
    assert set(removed) == {stale_dir, stale_file, old_other}
    assert live.is_dir() and other_host.is_dir() and untagged.is_dir()


def test_a_report_on_a_full_disk_is_one_line_and_leaves_no_file(
        tmp_path: Path, small_disk: Callable[[str], Path]) -> None:
    from tests.conftest import write_image_folder
    from tests.pages.support import make_run
    from tuning_core.model.report import write_report

    disk = small_disk("1m")
    run = make_run(disk / "runs", write_image_folder(tmp_path / "images"))
    (RunDir(run).exports_dir).mkdir()
    fill(disk, leave=0)
    with pytest.raises(DiskFullError) as refused:
        write_report(run)
    assert str(refused.value).startswith("disk full: ") and "for the report" in str(refused.value)
    assert _visible(RunDir(run).exports_dir) == set()  # no report cut short, no temporary
