"""``classify`` on the command line: a 1,000-image folder, a progress bar, a stop and its
resume, and bad input in one line."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_main import ROOT, _cli
from tests.conftest import write_image_folder

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def run_copy(augmented_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("cli-classify") / augmented_run.name
    shutil.copytree(augmented_run, copy, ignore=shutil.ignore_patterns("tuner", "cache"))
    return copy


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))[1:]


def test_a_thousand_images_survive_a_stop_and_resume(run_copy: Path, tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "incoming", {"a": 334, "b": 333, "c": 333}, size=32,
                                seed=3)
    (folder / "b" / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "results.csv"
    args = [sys.executable, "-m", "tuning_core", "classify", str(run_copy), str(folder),
            "--output", str(out), "--batch", "16"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    job = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.is_file() or len(_rows(out)) < 48):
        time.sleep(0.05)
    job.send_signal(signal.SIGINT)  # as Ctrl-C: stop after the current batch
    stdout, stderr = job.communicate(timeout=120)
    assert job.returncode == 0, stderr
    first = json.loads(stdout.strip().splitlines()[-1])
    assert first["stopped"] and not first["complete"] and "stopping after" in stderr
    kept = len(_rows(out))
    assert 48 <= kept < 1001 and kept == first["classified"] + first["unreadable"]
    again = _cli("classify", str(run_copy), str(folder), "--output", str(out))
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout.strip().splitlines()[-1])
    assert second["complete"] and second["resumed_from"] == kept and second["total"] == 1001
    assert second["classified"] == 1000 and second["unreadable"] == 1
    assert "1001/1001 100%" in again.stderr and "img/s" in again.stderr
    rows = _rows(out)
    assert len(rows) == 1001 and len({r[0] for r in rows}) == 1001
    assert sum(second["per_class"].values()) == 1000 and min(second["per_class"].values()) > 0


def test_the_default_csv_lives_in_the_run(run_copy: Path, tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "batch 7", {"a": 3, "c": 3}, size=32)
    result = _cli("classify", str(run_copy), str(folder), "--format", "keras")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(summary["output"]) == run_copy / "classify" / "batch 7.csv"
    assert summary["classified"] == 6


@pytest.mark.parametrize("args, message", [
    (["/no/such/folder"], "not a folder"),
    (["FOLDER", "--threshold", "2"], "probability"),
    (["FOLDER", "--format", "tfjs"], "invalid choice"),
    (["FOLDER", "--format", "onnx"], "export it first"),
    (["FOLDER", "--batch", "0"], "--batch"),
])
def test_bad_input_is_one_line(run_copy: Path, tmp_path: Path, args: list[str],
                               message: str) -> None:
    folder = write_image_folder(tmp_path / "few", {"a": 2}, size=32)
    result = _cli("classify", str(run_copy), *[str(folder) if a == "FOLDER" else a
                                               for a in args])
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
