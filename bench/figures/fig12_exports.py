"""Figure 12: what each checked export costs and gives: export seconds, file size, agreement
with ``model.predict`` and CPU milliseconds per image at batch 1 on one thread.

Two models, both with flip/rotation/zoom inside (the case plain Keras exports get wrong):
the default 'small' preset's largest CNN and a MobileNetV3Small backbone (weights=None:
ImageNet weights cannot be fetched here; its batch norm is calibrated on the images and
its head trained, so its outputs differ across images). Each is trained briefly on the
digits, saved as a run's best model and exported to every format and int8 LiteRT through
``tuning_core.model.exports.export_run``, the code path of the Best model page.
"""

from __future__ import annotations

import time
from dataclasses import replace

import keras
import keras_tuner as kt

from bench.harness.common import OUT, FigureResult
from bench.workloads import fixed_model as fm
from tuning_core.data.dataset import ImageConfig, SplitConfig
from tuning_core.data.sample import write_digits
from tuning_core.model.exports import export_run, parse_targets
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.search.hypermodel import CNNHyperModel
from tuning_core.search.lifecycle import prepare_data
from tuning_core.space.schema import BackboneSpace, Toggle

FULL = {"cnn px": 64, "backbone px": 96, "epochs": 2}
QUICK = {"cnn px": 32, "backbone px": 32, "epochs": 1}


def _space(backbone: bool):
    space = fm.fixed_space()
    space.training = replace(space.training, flip=Toggle.ON, rotation=Toggle.ON, zoom=Toggle.ON)
    if backbone:
        space.backbone = BackboneSpace(choices=["MobileNetV3Small"], weights="none",
                                       trainable_top=[0])
    return space


def _run(name: str, size: int, backbone: bool) -> RunDir:
    data = write_digits(OUT / "data" / f"digits{size}", size=size)
    config = RunConfig(data_dir=str(data), space=_space(backbone), name=name,
                       image=ImageConfig(size, "grayscale"), split=SplitConfig(subset=0.5),
                       tuner=TunerSettings(tuner="random", max_trials=1, epochs=1))
    return RunDir.create(OUT / "exports-runs", config)


def _calibrate(model: keras.Model, images) -> None:
    """Batch-norm statistics of these images for a random-weights backbone (as the tests)."""
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    backbone.trainable = True
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    backbone(keras.ops.concatenate([images] * 3, axis=-1), training=True)
    backbone.trainable = False


def _best_model(run: RunDir, backbone: bool, epochs: int) -> float:
    """Train the space's model briefly and save it as the run's best; returns seconds."""
    started = time.perf_counter()
    data, _ = prepare_data(run, full_train=True)
    config = run.config()
    hp = kt.HyperParameters()
    hypermodel = CNNHyperModel(config.space, config.image.image_size, 1, data.num_classes)
    model = hypermodel.build(hp)
    if backbone:
        images, _ = data.training.train_cache.arrays()
        _calibrate(model, images[:256].astype("float32"))
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    hypermodel.fit(hp, model, data.training, epochs=epochs, verbose=0)
    run.best_dir.mkdir(exist_ok=True)
    model.save(run.model_path)
    return time.perf_counter() - started


def _rows(label: str, run: RunDir) -> list[dict]:
    rows = []
    for r in export_run(run.path, parse_targets("all", quantize=True)):
        a = r.agreement
        rows.append({"model": label, "format": r.label, "check": "passed" if r.passed
                     else f"failed: {r.reason}", "export s": r.export_seconds,
                     "file MB": round(r.bytes / 1e6, 3), "max |diff|":
                     f"{a.max_abs_diff:.1e}" if a else "-",
                     "top-1 agreement": a.top1_agreement if a else "-",
                     "ms / image": round(r.ms_per_image, 3) if r.ms_per_image else "-"})
    return rows


def measure(quick: bool) -> FigureResult:
    s = QUICK if quick else FULL
    rows, notes = [], []
    for label, size, backbone in ((f"small CNN, {s['cnn px']} px", s["cnn px"], False),
                                  (f"MobileNetV3Small, {s['backbone px']} px", s["backbone px"],
                                   True)):
        run = _run(label, size, backbone)
        trained = _best_model(run, backbone, s["epochs"])
        rows += _rows(label, run)
        keras.backend.clear_session()
        notes.append(f"{label}: trained {s['epochs']} epoch(s) in {trained:.1f} s before export.")
    passed = sum(r["check"] == "passed" for r in rows)
    floats = [r for r in rows if "int8" not in r["format"]]
    cnn = {r["format"]: r["ms / image"] for r in rows if r["model"].startswith("small")}
    value = (f"{passed} of {len(rows)} exports passed their check "
             f"({sum(r['check'] == 'passed' for r in floats)} of {len(floats)} float ones); "
             "small CNN ms/image: " + ", ".join(f"{k} {v}" for k, v in cnn.items()))
    notes.append("An int8 file is offered only when its top class agrees with the model on "
                 "at least 99% of the images; one that does not is measured and refused here "
                 "as on the Best model page (the goal is on the float files).")
    notes.append("ms / image: CPU, batch 1, one thread (a child process per export run, "
                 "every runtime set to one thread), median of 20 after 3 warm-up runs; "
                 "checked on up to 64 images of the run (test images first).")
    return FigureResult(12, "Exports", "every float export of a model with augmentation passes "
                        "its check (max |diff| < 1e-4, outputs that differ across images)",
                        value, met=all(r["check"] == "passed" for r in floats), rows=rows,
                        notes=notes)
