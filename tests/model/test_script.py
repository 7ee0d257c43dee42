"""The standalone search script: no import of this project, and the run's own search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuning_core.core.errors import ExportError
from tuning_core.model.script import run_settings, script_text, write_script
from tuning_core.runs.rundir import RunDir


def _space(oracle: Path) -> list[dict]:
    return json.loads(oracle.read_text())["hyperparameters"]["space"]


def test_the_script_needs_a_started_search(tmp_path: Path) -> None:
    from tests.conftest import write_image_folder
    from tests.pages.support import make_run

    run_dir = make_run(tmp_path / "runs", write_image_folder(tmp_path / "images"))
    (RunDir(run_dir).path / "split.json").unlink(missing_ok=True)
    with pytest.raises(ExportError, match="never started"):
        script_text(run_dir)


@pytest.mark.training
def test_the_script_reruns_the_same_search_without_this_project(augmented_run: Path,
                                                                tmp_path: Path) -> None:
    path = write_script(augmented_run, tmp_path / "search_script.py")
    text = path.read_text()
    assert "tuning_core" not in text.replace("python -m tuning_core script", "")
    settings = run_settings(RunDir(augmented_run))
    assert len(settings["split"]["test"]) > 0 and settings["tuner"]["tuner"] == "random"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(path), "--max-trials", "1", "--epochs", "1",
                           "--retrain-epochs", "1", "--out", "out"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _space(tmp_path / "out" / "tuner" / "oracle.json") == \
        _space(RunDir(augmented_run).project_dir / "oracle.json")
    metrics = json.loads((tmp_path / "out" / "test_metrics.json").read_text())
    assert metrics["test_images"] == len(settings["split"]["test"])
    assert (tmp_path / "out" / "best_model.keras").is_file()


def test_the_script_registers_the_dashboards_hyperparameters_for_a_backbone_space() -> None:
    """Without training: the script's hypermodel and the engine's register the same space
    (names, ranges, conditions, order) for a space with a backbone, tuned toggles, block
    ranges and grayscale images."""
    import importlib.util
    from dataclasses import replace

    import keras_tuner as kt

    from tests.conftest import augmented_space
    from tuning_core.search.hypermodel import CNNHyperModel
    from tuning_core.space.backbones import BACKBONES
    from tuning_core.space.schema import BackboneSpace, DropoutRange, IntRange, Toggle

    space = augmented_space()
    space.conv_blocks = IntRange(1, 2)
    space.conv = [replace(space.conv[0], batch_norm=Toggle.TUNED,
                          dropout=DropoutRange(0.0, 0.3, 0.1))] * 2
    space.dense_blocks = IntRange(0, 1)
    space.training = replace(space.training, flip=Toggle.TUNED, optimizers=["adam", "sgd"],
                             label_smoothing=[0.0, 0.1], class_weights=Toggle.TUNED)
    space.backbone = BackboneSpace(choices=["none", "MobileNetV3Small"], weights="none",
                                   trainable_top=[0, 5])
    spec = importlib.util.spec_from_file_location("standalone", Path(
        __file__).resolve().parents[2] / "tuning_core" / "model" / "script_template.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    backbones = {"MobileNetV3Small": {"application": "MobileNetV3Small",
                                      "options": dict(BACKBONES["MobileNetV3Small"].options)}}
    ours, theirs = kt.HyperParameters(), kt.HyperParameters()
    CNNHyperModel(space, 32, 1, 4).build(ours)
    script.SearchHyperModel(json.loads(json.dumps(space.to_dict())), 32, 1, 4,
                            backbones).build(theirs)
    assert [p.get_config() for p in theirs.space] == [p.get_config() for p in ours.space]
    assert "backbone" in theirs.values and len(ours.space) > 20
