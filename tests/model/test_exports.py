"""Checked exports: round trips in each runtime, the refusals, and the inference copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.conftest import augmented_space
from tuning_core.core.errors import ExportError, PermissionDeniedError
from tuning_core.lab.accounts import Role, User
from tuning_core.lab.actor import Actor
from tuning_core.lab.audit import AuditLog
from tuning_core.model.exports import (
    FLOAT_MAX_DIFF,
    MIN_IMAGES,
    Agreement,
    ExportFormat,
    ExportManifest,
    download,
    export_run,
    inference_copy,
    judge,
    load_manifest,
    parse_targets,
)
from tuning_core.runs.rundir import RunDir

pytestmark = pytest.mark.training


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    """A private copy of a shared run (its exports change it)."""
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("tuner", "cache", "exports"))
    return copy


def test_inference_copy_drops_augmentation_and_shares_weights() -> None:
    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.RandomFlip("horizontal", name="augment_flip")(inputs)
    x = keras.layers.RandomZoom(0.1, name="augment_zoom")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.5)(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    copy = inference_copy(model)
    names = [layer.name for layer in copy.layers]
    assert not any(n.startswith("augment_") for n in names) and len(names) == len(model.layers) - 2
    assert copy.layers[-1] is model.layers[-1]  # the same objects, so the same weights
    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 1)).astype("float32")
    assert np.array_equal(copy.predict(images, verbose=0), model.predict(images, verbose=0))
    with pytest.raises(ExportError, match="functional"):
        inference_copy(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))


def test_judge_refuses_constant_far_and_quantized_disagreeing_outputs() -> None:
    rng = np.random.default_rng(0)
    reference = rng.dirichlet([1, 1, 1], size=MIN_IMAGES).astype("float32")
    same = Agreement.of(reference, reference + FLOAT_MAX_DIFF / 2)
    assert judge(same, quantized=False, reference_spread=0.5) == ""
    far = Agreement.of(reference, reference + 0.01)
    assert "differ" in judge(far, quantized=False, reference_spread=0.5)
    assert judge(far, quantized=True, reference_spread=0.5) == ""  # int8 is judged on top-1
    flipped = Agreement.of(reference, reference[:, ::-1].copy())
    assert "top class" in judge(flipped, quantized=True, reference_spread=0.5)
    constant = np.tile(reference[:1], (MIN_IMAGES, 1))
    assert "constant" in judge(Agreement.of(constant, constant), False, reference_spread=0.0)
    few = Agreement.of(reference[:5], reference[:5])
    assert "at least 32" in judge(few, False, reference_spread=0.5)
    with pytest.raises(ExportError, match="shape"):
        Agreement.of(reference, reference[:, :2])


def test_parse_targets() -> None:
    assert [t.key for t in parse_targets("all", quantize=True)] == [
        "saved_model", "onnx", "litert", "litert_int8"]
    assert [t.key for t in parse_targets(["onnx", "onnx"])] == ["onnx"]
    with pytest.raises(ExportError, match="tensorflowjs"):
        parse_targets("tensorflowjs")
    with pytest.raises(ExportError, match="LiteRT"):
        parse_targets("onnx", quantize=True)


def test_every_format_of_an_augmented_model_loads_and_agrees(augmented_run: Path,
                                                             tmp_path: Path) -> None:
    run_dir = _copy_run(augmented_run, tmp_path)
    audit = AuditLog(tmp_path / "audit.jsonl")
    member = Actor(User("ann", Role.MEMBER), audit=audit)
    records = export_run(run_dir, parse_targets("all", quantize=True), actor=member)
    assert [r.key for r in records] == ["saved_model", "onnx", "litert", "litert_int8"]
    for record in records:
        assert record.passed, f"{record.key}: {record.reason}"
        assert record.agreement.images >= MIN_IMAGES and record.agreement.spread > 0.01
        assert record.ms_per_image > 0 and record.bytes > 0 and record.threads == 1
        assert record.input.size == 32 and record.input.channels == 3
        path = download(run_dir, record.key, actor=member)
        assert path.stat().st_size == record.bytes
    floats = [r for r in records if r.key != "litert_int8"]
    assert all(r.agreement.max_abs_diff < FLOAT_MAX_DIFF for r in floats)
    assert records[-1].agreement.top1_agreement >= 0.99
    assert records[-1].bytes < records[2].bytes  # int8 weights are smaller
    assert (RunDir(run_dir).exports_dir / "saved_model.zip").is_file()
    manifest = load_manifest(run_dir)
    assert ExportManifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest
    events = [(e.action.value, e.user) for e in audit.latest()]
    assert events[0] == ("export", "ann") and events.count(("download", "ann")) == 4
    viewer = Actor(User("vic", Role.VIEWER), audit=audit)
    with pytest.raises(PermissionDeniedError):
        export_run(run_dir, parse_targets("onnx"), actor=viewer)
    assert download(run_dir, "onnx", actor=viewer).name == "model.onnx"


def test_a_failed_check_is_refused_for_download(augmented_run: Path, tmp_path: Path) -> None:
    """Forced: exporting the model itself, augmentation included (what Keras does unaided):
    the SavedModel's serve() keeps augmentation in training mode and ONNX Runtime cannot
    load tf2onnx's random ops. Neither file is kept or offered, and each says why."""
    run_dir = _copy_run(augmented_run, tmp_path)
    records = export_run(run_dir, parse_targets(["saved_model", "onnx"]), prepare=lambda m: m)
    saved, onnx = records
    assert not saved.passed and "differ" in saved.reason and saved.agreement.max_abs_diff > 0.01
    assert not onnx.passed and "ONNX Runtime could not load" in onnx.reason
    assert not list(RunDir(run_dir).exports_dir.glob("*.onnx")) and saved.file == ""
    with pytest.raises(ExportError, match="failed its check"):
        download(run_dir, "onnx")
    with pytest.raises(ExportError, match="no litert export"):
        download(run_dir, "litert")


def _calibrated(model: keras.Model, images: np.ndarray) -> None:
    """Give a random-weights backbone's batch norm the statistics of these images (with
    ImageNet's initial ones, weights=None features are ~1e-11 and every output the same)."""
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    backbone.trainable = True  # a frozen batch norm ignores training=True
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    backbone(images, training=True)
    backbone.trainable = False


def test_backbone_model_with_augmentation_round_trips(augmented_run: Path,
                                                      tmp_path: Path) -> None:
    import keras_tuner as kt

    from tuning_core.model.exports import check_images
    from tuning_core.search.hypermodel import CNNHyperModel
    from tuning_core.space.schema import BackboneSpace

    run_dir = _copy_run(augmented_run, tmp_path)
    space = augmented_space()
    space.backbone = BackboneSpace(choices=["MobileNetV3Small"], weights="none",
                                   trainable_top=[0])
    model = CNNHyperModel(space, 32, 3, 3).build(kt.HyperParameters())
    images, _ = check_images(RunDir(run_dir))
    _calibrated(model, images)
    model.save(RunDir(run_dir).model_path)
    records = export_run(run_dir, parse_targets("all"))
    for record in records:
        assert record.passed, f"{record.key}: {record.reason}"
    assert {r.key for r in records} == {f.value for f in ExportFormat}


def test_a_retrained_model_makes_exports_stale(augmented_run: Path, tmp_path: Path) -> None:
    run_dir = _copy_run(augmented_run, tmp_path)
    export_run(run_dir, parse_targets("litert"))
    model = RunDir(run_dir).model_path
    model.write_bytes(model.read_bytes())  # a new best model (another mtime)
    with pytest.raises(ExportError, match="earlier best model"):
        download(run_dir, "litert")
