"""Figure 15: classifying a folder, images per second with Keras, ONNX Runtime and LiteRT.

A lab that chose a model runs it on the images that keep arriving: ``classify`` loads the
model once and classifies in batches of 64 into one CSV. The small CNN with augmentation
inside (figure 12's) is trained briefly on the digits, exported and checked as on the
Best model page, then each runtime classifies the same folder of the digits' PNGs through
``tuning_core.model.classify.classify_folder``, the code path of the command and the page:
decoding each file as in training, the batch through the model, the CSV row written. The
time is end to end; the model alone is timed on the same decoded batches.
"""

from __future__ import annotations

import time
from dataclasses import replace

import keras_tuner as kt
import numpy as np

from bench.harness.common import OUT, FigureResult
from bench.workloads import fixed_model as fm
from tuning_core.data.dataset import ImageConfig, SplitConfig
from tuning_core.data.pipeline import load_image
from tuning_core.data.sample import write_digits
from tuning_core.model.classify import (
    ClassifyFormat,
    classify_folder,
    folder_images,
    load_predictor,
)
from tuning_core.model.exports import export_run, parse_targets
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.search.hypermodel import CNNHyperModel
from tuning_core.search.lifecycle import prepare_data
from tuning_core.space.schema import Toggle

FULL = {"px": 32, "images": 1797, "epochs": 2, "repeats": 3}
QUICK = {"px": 32, "images": 300, "epochs": 1, "repeats": 1}


def _trained_run(size: int, epochs: int) -> tuple[RunDir, str]:
    """A run of the digits whose best model is the fixed small CNN, trained briefly."""
    data = write_digits(OUT / "data" / f"digits{size}", size=size)
    space = fm.fixed_space()
    space.training = replace(space.training, flip=Toggle.ON, rotation=Toggle.ON, zoom=Toggle.ON)
    config = RunConfig(data_dir=str(data), space=space, name="classify",
                       image=ImageConfig(size, "grayscale"), split=SplitConfig(subset=0.5),
                       tuner=TunerSettings(tuner="random", max_trials=1, epochs=1))
    run = RunDir.create(OUT / "classify-runs", config)
    prepared, _ = prepare_data(run, full_train=True)
    hp = kt.HyperParameters()
    hypermodel = CNNHyperModel(space, size, 1, prepared.num_classes)
    model = hypermodel.build(hp)
    hypermodel.fit(hp, model, prepared.training, epochs=epochs, verbose=0)
    run.best_dir.mkdir(exist_ok=True)
    model.save(run.model_path)
    return run, str(data)


def _model_only(run: RunDir, fmt: ClassifyFormat, batches: list[np.ndarray]) -> float:
    """Images per second of the model alone on decoded batches (no file reads)."""
    predict = load_predictor(run.path, fmt)
    predict(batches[0])  # warm-up: the first call builds the graph or allocates tensors
    started = time.perf_counter()
    for batch in batches:
        predict(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - started)


def measure(quick: bool) -> FigureResult:
    s = QUICK if quick else FULL
    run, folder = _trained_run(s["px"], s["epochs"])
    records = export_run(run.path, parse_targets(["onnx", "litert"]))
    refused = [f"{r.key}: {r.reason}" for r in records if not r.passed]
    files = folder_images(folder)[: s["images"]]
    config = run.config().image
    decoded = np.stack([load_image(f, config) for f in files]).astype("float32")
    batches = [decoded[i:i + 64] for i in range(0, len(decoded), 64)]
    rows, rates = [], {}
    for fmt in ClassifyFormat:
        speeds = []
        for repeat in range(s["repeats"]):
            out = OUT / f"classify-{fmt.value}-{repeat}.csv"
            out.unlink(missing_ok=True)
            result = classify_folder(run.path, folder, out, fmt, files=files)
            speeds.append(result.images_per_second)
        rates[fmt.value] = float(np.median(speeds))
        rows.append({"runtime": fmt.value, "images": len(files),
                     "images / s (end to end)": round(rates[fmt.value], 1),
                     "images / s (model only)": round(_model_only(run, fmt, batches), 1),
                     "repeats": s["repeats"]})
    best = max(rates, key=lambda k: rates[k])
    value = ", ".join(f"{k} {v:.0f}" for k, v in rates.items()) + \
        f" images/s end to end ({len(files)} PNGs of {s['px']} px, batches of 64)"
    notes = [f"Every CPU core the machine has (TensorFlow's, ONNX Runtime's and LiteRT's "
             f"defaults); the median of {s['repeats']} run(s) each.",
             "End to end includes reading and decoding each PNG with TensorFlow as in "
             "training (the same for every runtime) and writing the CSV row; 'model only' "
             "times the batches already decoded.",
             f"Fastest end to end here: {best}."]
    notes += [f"export refused: {r}" for r in refused]
    return FigureResult(15, "Classify a folder", "a 1,000-image folder classified in under a "
                        "minute on this machine's CPU with each runtime", value,
                        met=all(len(files) / max(v, 1e-9) < 60 for v in rates.values()),
                        rows=rows, notes=notes)
