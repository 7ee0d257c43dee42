"""Each download's example, run as the colleague who receives it would: unzipped, in a fresh
virtual environment holding only its runtime, numpy and pillow (pinned by constraints.txt),
on a folder of the run's images; its class names must be ``predict``'s.

Slow but in the suite: each venv is made with pip from the warm cache (about 13 s each
here; tensorflow's, for the SavedModel, a minute or two) and removed after.
"""

from __future__ import annotations

import shutil
import subprocess
import venv
import zipfile
from pathlib import Path

import pytest

from tests.model.test_exports import _copy_run
from tuning_core.model.exports import download, export_run, parse_targets
from tuning_core.model.predict import predict
from tuning_core.runs.rundir import RunDir

pytestmark = pytest.mark.training

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"onnx": "onnxruntime", "litert": "ai-edge-litert", "saved_model": "tensorflow"}
MODULES = {"onnx": "onnxruntime", "litert": "ai_edge_litert", "saved_model": "tensorflow"}


def _fresh_venv(folder: Path, package: str) -> Path:
    """A venv with only ``package``, numpy and pillow (and what they require)."""
    venv.EnvBuilder(with_pip=True).create(folder)
    python = folder / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "-c", str(ROOT / "constraints.txt"), package, "numpy", "pillow"],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"pip install {package} failed: {done.stderr[-800:]}")
    return python


def _unzip(run_dir: Path, key: str, folder: Path) -> Path:
    with zipfile.ZipFile(download(run_dir, key)) as bundle:
        bundle.extractall(folder)
    return folder / "classify_folder.py"


def _classes(python: Path | str, script: Path, images: Path) -> dict[str, str]:
    done = subprocess.run([str(python), str(script), str(images)], capture_output=True,
                          text=True, timeout=300, cwd=script.parent,
                          env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-800:]
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    return {Path(path).name: label for path, label, _ in rows}


def test_each_example_classifies_a_folder_with_its_runtime_alone(
        augmented_run: Path, tmp_path: Path) -> None:
    run_dir = _copy_run(augmented_run, tmp_path)
    export_run(run_dir, parse_targets(["saved_model", "onnx", "litert"], integer=True))
    split = RunDir(run_dir).load_split()
    images = tmp_path / "new images"  # a space in the path, as people's folders have
    images.mkdir()
    for relative, _ in split["test"] + split["val"]:
        shutil.copy(Path(split["root"]) / relative, images / Path(relative).name)
    files = sorted(images.iterdir())
    expected = {Path(p.path).name: p.label for p in predict(run_dir, files)}
    assert len(set(expected.values())) > 1  # a model that learns: more than one class
    try:
        pythons = {key: _fresh_venv(tmp_path / f"venv-{key}", package)
                   for key, package in PACKAGES.items()}
        runs = {"onnx": pythons["onnx"], "litert": pythons["litert"],
                "litert_int8io": pythons["litert"], "saved_model": pythons["saved_model"]}
        for key, python in runs.items():
            script = _unzip(run_dir, key, tmp_path / f"unzipped-{key}")
            assert _classes(python, script, images) == expected, key
        for key, python in pythons.items():  # only its runtime: the others are not there
            for other in set(MODULES.values()) - {MODULES[key]}:
                probe = subprocess.run([str(python), "-c", f"import {other}"],
                                       capture_output=True)
                assert probe.returncode != 0, f"{other} in the {key} venv"
    finally:
        for key in PACKAGES:  # tensorflow's is 1.5 GB: not kept with pytest's last runs
            shutil.rmtree(tmp_path / f"venv-{key}", ignore_errors=True)
