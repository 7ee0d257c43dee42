"""``export``, ``script`` and ``report`` on the command line: one JSON line, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.test_main import _cli

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def run_copy(augmented_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("cli-exports") / augmented_run.name
    shutil.copytree(augmented_run, copy, ignore=shutil.ignore_patterns("tuner", "cache"))
    return copy


def test_export_prints_the_checks_as_one_json_line(run_copy: Path) -> None:
    result = _cli("export", str(run_copy), "--format", "litert", "--quantize", "--int8")
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.strip().splitlines()
    exports = json.loads(line)["exports"]
    assert [e["format"] for e in exports] == ["litert", "litert_int8", "litert_int8io"]
    assert all(e["passed"] and Path(e["file"]).is_file() for e in exports)
    assert [Path(e["download"]).name for e in exports] == [
        "litert.zip", "litert_int8.zip", "litert_int8io.zip"]
    assert exports[0]["max_abs_diff"] < 1e-4 and exports[1]["top1_agreement"] >= 0.99
    assert "pixels 0..255" in exports[0]["input"] and result.stderr.strip() == ""


@pytest.mark.parametrize("args, message", [
    (["--format", "onnx", "--quantize"], "add litert"),
    (["--format", "onnx", "--int8"], "--int8 makes a quantized LiteRT"),
    (["--format", "tfjs"], "invalid choice"),
])
def test_export_bad_input_is_one_line(run_copy: Path, args: list[str], message: str) -> None:
    result = _cli("export", str(run_copy), *args)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_export_before_a_retrain_says_so(tmp_path: Path, run_copy: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run_copy / "run.json", bare / "run.json")
    result = _cli("export", str(bare))
    assert result.returncode == 2 and "no best model yet" in result.stderr


@pytest.mark.parametrize("command, key, start", [
    ("report", "report", "<!DOCTYPE html>"), ("script", "script", '"""Rerun a KerasTuner')])
def test_report_and_script_write_into_exports(run_copy: Path, command: str, key: str,
                                              start: str) -> None:
    result = _cli(command, str(run_copy))
    assert result.returncode == 0, result.stderr
    path = Path(json.loads(result.stdout.strip())[key])
    assert path.parent == run_copy.resolve() / "exports"
    assert path.read_text().startswith(start)


def test_report_of_a_folder_that_is_no_run(tmp_path: Path) -> None:
    result = _cli("report", str(tmp_path))
    assert result.returncode == 2 and "not a run folder" in result.stderr
