"""Predict classes of new images with a run's best model, resized as in training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuning_core.core.errors import DatasetError, RunError
from tuning_core.runs.rundir import RunDir


@dataclass
class Prediction:
    """The predicted class of one image, its probability, and every class's probability."""

    path: str
    label: str
    probability: float
    probabilities: dict[str, float]


def load_best_model(run_dir: str | Path):
    """The run's saved best model; RunError before a retrain."""
    import keras

    path = RunDir(run_dir).model_path
    if not path.is_file():
        raise RunError(f"{Path(run_dir).name} has no best model yet: retrain it first "
                       f"(python -m tuning_core best {run_dir}).")
    return keras.models.load_model(path)


def class_names(run_dir: str | Path) -> list[str]:
    """The run's class names, in label order."""
    split = RunDir(run_dir).load_split()
    if split is None:
        raise RunError(f"{run_dir} has no file split: its search never started.")
    return list(split["classes"])


def predict(run_dir: str | Path, images: list[str | Path], model=None) -> list[Prediction]:
    """Classify image files; DatasetError names the first file that cannot be read."""
    from tuning_core.data.pipeline import load_image

    config = RunDir(run_dir).config()
    classes = class_names(run_dir)
    model = model or load_best_model(run_dir)
    batch = np.stack([_load(path, config.image, load_image) for path in images])
    probabilities = model.predict(batch.astype("float32"), verbose=0)
    return [_prediction(str(path), row, classes)
            for path, row in zip(images, probabilities, strict=True)]


def _load(path: str | Path, image_config, load_image) -> np.ndarray:
    if not Path(path).is_file():
        raise DatasetError(f"{path} is not a file: expected an image to classify.")
    try:
        return load_image(path, image_config)
    except Exception as error:  # TensorFlow's decode errors are long; say what matters
        raise DatasetError(
            f"{path} cannot be decoded as an image ({type(error).__name__}).") from error


def _prediction(path: str, row: np.ndarray, classes: list[str]) -> Prediction:
    best = int(row.argmax())
    return Prediction(path=path, label=classes[best], probability=float(row[best]),
                      probabilities={c: float(p) for c, p in zip(classes, row, strict=False)})
