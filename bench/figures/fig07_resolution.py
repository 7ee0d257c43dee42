"""Figure 7: seconds per epoch against image size, for the default preset's largest model.

The digits written at 256 px are decoded to each size through the same cache as a search
(a fixed number of images), and the second epoch of a plain fit is timed (the first one
traces the graph). Seconds are also given per 1,000 images, which is what the Search
page's estimate scales by.
"""

from __future__ import annotations

import time

import keras
import keras_tuner as kt

from bench.harness.common import OUT, FigureResult, labelled_files, median
from bench.workloads import fixed_model as fm
from tuning_core.data.dataset import ImageCache, ImageConfig
from tuning_core.data.pipeline import TrainingData
from tuning_core.data.sample import write_digits
from tuning_core.search.hypermodel import CNNHyperModel

FULL = {"sizes": (32, 64, 128, 256), "images": 256, "repeats": 3}
QUICK = {"sizes": (32, 64, 128), "images": 128, "repeats": 1}


def _data(size: int, images: int) -> tuple[TrainingData, int]:
    root = write_digits(OUT / "data" / "digits256", size=256)
    items, classes = labelled_files(root)
    items = items[:: max(1, len(items) // images)][:images]
    config = ImageConfig(size, "grayscale")
    train = ImageCache(root, items, len(classes), config)
    val = ImageCache(root, items[:32], len(classes), config)
    return TrainingData(train, val), len(classes)


def epoch_seconds(size: int, images: int, repeats: int) -> float:
    """Median seconds of the second epoch of a fresh fit, over ``repeats`` fits."""
    data, n = _data(size, images)
    hypermodel = CNNHyperModel(fm.fixed_space(), size, 1, n)
    times = []
    for _ in range(repeats):
        hp = kt.HyperParameters()
        model = hypermodel.build(hp)
        timer = EpochTimer()
        hypermodel.fit(hp, model, data, epochs=2, verbose=0, callbacks=[timer])
        times.append(timer.seconds[-1])
        keras.backend.clear_session()
    return median(times)


class EpochTimer(keras.callbacks.Callback):
    """Records the seconds of every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._started)


def measure(quick: bool) -> FigureResult:
    s = QUICK if quick else FULL
    rows, base = [], None
    for size in s["sizes"]:
        sec = epoch_seconds(size, s["images"], s["repeats"])
        per_k = sec * 1000 / s["images"]
        base = base or per_k
        rows.append({"image px": size, "s per epoch": round(sec, 2),
                     "s per epoch per 1,000 images": round(per_k, 2),
                     "x the smallest": round(per_k / base, 1)})
    notes = [f"fixed model of figure 2 (the default 'small' preset at its largest), "
             f"{s['images']} training images, median of {s['repeats']} fits; the second "
             "epoch includes the validation pass over 32 images."]
    largest = rows[-1]
    value = (f"{largest['s per epoch per 1,000 images']} s per 1,000 images at "
             f"{largest['image px']} px, {largest['x the smallest']}x the {s['sizes'][0]} px cost")
    return FigureResult(7, "Resolution", "measure (sets the image-size default and the time "
                        "estimate)", value, met=None, rows=rows, notes=notes)
