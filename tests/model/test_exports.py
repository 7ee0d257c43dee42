"""Checked exports: round trips in each runtime, the refusals, the inference copy, and the
downloads that stand alone (classes inside the file and beside it)."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
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
    ModelCard,
    WriteContext,
    check_images,
    download,
    export_run,
    inference_copy,
    judge,
    load_manifest,
    parse_targets,
    write_export,
)
from tuning_core.model.predict import class_names
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
    assert [t.key for t in parse_targets("litert", integer=True)] == ["litert", "litert_int8io"]
    from tuning_core.model.exports import ExportTarget

    full = ExportTarget.from_key("litert_int8io")
    assert full.integer and full.quantized and full.file_name == "model_int8io.tflite"
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
    records = export_run(run_dir, parse_targets("all", quantize=True, integer=True),
                         actor=member)
    assert [r.key for r in records] == ["saved_model", "onnx", "litert", "litert_int8",
                                        "litert_int8io"]
    for record in records:
        assert record.passed, f"{record.key}: {record.reason}"
        assert record.agreement.images >= MIN_IMAGES and record.agreement.spread > 0.01
        assert record.ms_per_image > 0 and record.bytes > 0 and record.threads == 1
        assert record.input.size == 32 and record.input.channels == 3
        path = download(run_dir, record.key, actor=member)
        assert path.name == f"{record.key}.zip" and path.stat().st_size == record.bundle_bytes
    floats = [r for r in records if not r.key.startswith("litert_int8")]
    assert all(r.agreement.max_abs_diff < FLOAT_MAX_DIFF for r in floats)
    assert all(r.agreement.top1_agreement >= 0.99 for r in records[3:])
    assert records[3].bytes < records[2].bytes and records[4].bytes < records[2].bytes
    assert (RunDir(run_dir).exports_dir / "saved_model.zip").is_file()
    manifest = load_manifest(run_dir)
    assert ExportManifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest
    events = [(e.action.value, e.user) for e in audit.latest()]
    assert events[0] == ("export", "ann") and events.count(("download", "ann")) == 5
    viewer = Actor(User("vic", Role.VIEWER), audit=audit)
    with pytest.raises(PermissionDeniedError):
        export_run(run_dir, parse_targets("onnx"), actor=viewer)
    assert download(run_dir, "onnx", actor=viewer).name == "onnx.zip"


def test_every_download_carries_its_classes_and_input_contract(augmented_run: Path,
                                                               tmp_path: Path) -> None:
    """labels.txt, model.json, the example and a README beside the model in each zip; the
    ONNX file holds the classes in its metadata, the SavedModel names them in ``classify``;
    a full-integer file's card says how to quantize its pixels."""
    import onnxruntime as ort
    import tensorflow as tf

    run_dir = _copy_run(augmented_run, tmp_path)
    export_run(run_dir, parse_targets(["saved_model", "onnx", "litert"], integer=True))
    classes = class_names(run_dir)
    for key, model_file in (("saved_model", "saved_model/saved_model.pb"),
                            ("onnx", "model.onnx"), ("litert", "model.tflite"),
                            ("litert_int8io", "model_int8io.tflite")):
        folder = tmp_path / key
        with zipfile.ZipFile(download(run_dir, key)) as bundle:
            assert model_file in bundle.namelist()
            bundle.extractall(folder)
        assert (folder / "labels.txt").read_text().splitlines() == classes
        card = ModelCard.from_dict(json.loads((folder / "model.json").read_text()))
        assert card.classes == classes and card.format == key and card.input.size == 32
        assert card.test_accuracy is not None and card.test_accuracy_95 is not None
        inner = folder / (model_file if key != "saved_model" else "saved_model/saved_model.pb")
        assert card.sha256 == hashlib.sha256(inner.read_bytes()).hexdigest()
        assert set(card.exported_with) >= {"tensorflow", "keras"}
        assert f'RUNTIME = "{key.removesuffix("_int8io")}"' in (
            folder / "classify_folder.py").read_text()
        assert "pip install numpy pillow" in (folder / "README.txt").read_text()
    full = ModelCard.from_dict(json.loads((tmp_path / "litert_int8io/model.json").read_text()))
    assert full.input_dtype == "int8" and full.input_quantization.scale > 0
    meta = ort.InferenceSession(str(tmp_path / "onnx/model.onnx")).get_modelmeta()
    assert json.loads(meta.custom_metadata_map["classes"]) == classes
    assert json.loads(meta.custom_metadata_map["model_json"])["classes"] == classes
    images = check_images(RunDir(run_dir))[0][:8]
    loaded = tf.saved_model.load(str(tmp_path / "saved_model/saved_model"))
    named = loaded.classify(tf.constant(images))
    assert [n.decode() for n in named["class_name"].numpy()] == [
        classes[i] for i in named["probabilities"].numpy().argmax(1)]


def test_the_int8_check_refuses_a_degraded_file(augmented_run: Path, tmp_path: Path) -> None:
    """A full-integer file whose class outputs are crossed (the last layer's columns
    rolled: what a bad calibration or a wrong label order looks like from outside) loads,
    runs and moves across images, yet keeps the model's top class on few images: refused.
    The shared model learns, so its top classes differ across images and the check bites."""
    run_dir = _copy_run(augmented_run, tmp_path)

    def crossed(model: keras.Model, target, path: Path, context: WriteContext) -> None:
        dense = model.layers[-1]
        kernel, bias = dense.get_weights()
        dense.set_weights([np.roll(kernel, 1, axis=1), np.roll(bias, 1)])
        try:
            write_export(model, target, path, context)
        finally:
            dense.set_weights([kernel, bias])

    [record] = export_run(run_dir, parse_targets("litert", integer=True)[1:], writer=crossed)
    assert not record.passed and "top class agrees" in record.reason
    assert record.agreement.top1_agreement < 0.5 and record.agreement.spread > 0.01
    assert not list(RunDir(run_dir).exports_dir.glob("*int8io*"))


def test_a_failed_check_is_refused_for_download(augmented_run: Path, tmp_path: Path) -> None:
    """Forced: exporting the model itself, augmentation included, as Keras does unaided:
    Keras' own SavedModel's serve() keeps augmentation and dropout in training mode and ONNX
    Runtime cannot load tf2onnx's random ops. Neither file is kept or offered, and each
    says why."""
    run_dir = _copy_run(augmented_run, tmp_path)

    def keras_unaided(model: keras.Model, target, path: Path, context: WriteContext) -> None:
        if target.format is ExportFormat.SAVED_MODEL:
            model.export(str(path), format="tf_saved_model", verbose=False)
        else:
            write_export(model, target, path, context)

    records = export_run(run_dir, parse_targets(["saved_model", "onnx"]), prepare=lambda m: m,
                         writer=keras_unaided)
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
