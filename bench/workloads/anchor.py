"""The anchor: the plain KerasTuner tutorial workflow, written by hand as a user would.

No tuning_core here on purpose. ``keras.utils.image_dataset_from_directory`` at the
dataset's native size (``--image-size``, by default the median side of its images, as a user
reads it off the files; colour mode and batch size left at their defaults), a 0.70/0.15/0.15
split by ``take``/``skip`` of the batched dataset (which reshuffles every epoch, so test
images leak into training: kept, as in the tutorial), a HyperModel with per-layer filters,
kernels, activations, batch norm and dropout, BayesianOptimization, no caching, no early
stopping, no checkpoint pruning; then the best hyperparameters retrained for the same
epochs and evaluated on the tutorial's test split.

The benchmark adds one thing the tutorial lacks: the final model is also evaluated on a
held-out folder that the workflow never saw (``--holdout``); that evaluation is not timed.

    python -m bench.workloads.anchor --data DIR --holdout DIR --work DIR [--trials 10] [--epochs 10]
        [--image-size PX]

prints one JSON object (wall time, own test accuracy, held-out accuracy, project bytes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from bench.harness.common import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402
from keras import layers  # noqa: E402
from PIL import Image  # noqa: E402

BATCH_SIZE = 32  # image_dataset_from_directory's default
MIN_BATCHES = 7  # fewer, and int(0.15 * batches) leaves the split no validation batch
# the files image_dataset_from_directory reads
IMAGE_SUFFIXES = {".bmp", ".gif", ".jpeg", ".jpg", ".png"}


class TutorialHyperModel(kt.HyperModel):
    """1-3 conv blocks (filters, kernel, activation, batch norm, dropout each), one dense."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        self.input_shape, self.num_classes = input_shape, num_classes

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        inputs = keras.Input(self.input_shape)
        x = layers.Rescaling(1.0 / 255)(inputs)
        for i in range(hp.Int("conv_layers", 1, 3)):
            x = layers.Conv2D(hp.Choice(f"filters_{i}", [32, 64, 128]),
                              hp.Choice(f"kernel_{i}", [3, 5]), padding="same")(x)
            if hp.Boolean(f"batch_norm_{i}"):
                x = layers.BatchNormalization()(x)
            x = layers.Activation(hp.Choice(f"activation_{i}", ["relu", "tanh"]))(x)
            x = layers.MaxPooling2D()(x)
            x = layers.Dropout(hp.Float(f"dropout_{i}", 0.0, 0.5, step=0.1))(x)
        x = layers.Flatten()(x)
        x = layers.Dense(hp.Choice("units", [64, 128, 256]), activation="relu")(x)
        x = layers.Dropout(hp.Float("dense_dropout", 0.0, 0.5, step=0.1))(x)
        outputs = layers.Dense(self.num_classes, activation="softmax")(x)
        model = keras.Model(inputs, outputs)
        rate = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        model.compile(optimizer=keras.optimizers.Adam(rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model


def native_size(data_dir: Path) -> int:
    """The median side (width and height alike) of the images in a class-folder tree.

    Raises:
        ValueError: the tree holds no image.
    """
    sides: list[int] = []
    for path in sorted(data_dir.glob("*/*")):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            with Image.open(path) as image:
                sides += image.size
    if not sides:
        raise ValueError(f"no images in the class folders of {data_dir}")
    return round(statistics.median(sides))


def load_split(data_dir: Path, seed: int, image_size: int) -> tuple:
    """(train, val, test, class names) by take/skip of one reshuffling batched dataset."""
    ds = keras.utils.image_dataset_from_directory(
        data_dir, image_size=(image_size, image_size), batch_size=BATCH_SIZE, seed=seed,
        verbose=False)
    batches = int(ds.cardinality())
    if batches < MIN_BATCHES:
        raise ValueError(f"{data_dir} holds {batches} batches of {BATCH_SIZE} images; the "
                         f"tutorial's split needs at least {MIN_BATCHES} to leave a validation "
                         "batch")
    n_train, n_val = int(0.70 * batches), int(0.15 * batches)
    train = ds.take(n_train)
    val = ds.skip(n_train).take(n_val)
    test = ds.skip(n_train + n_val)
    return train, val, test, ds.class_names


def run(data_dir: Path, work_dir: Path, trials: int, epochs: int, image_size: int,
        seed: int = 0) -> dict:
    """Search, retrain the best, evaluate on the tutorial's test split; times it all."""
    started = time.perf_counter()
    train, val, test, classes = load_split(data_dir, seed, image_size)
    hypermodel = TutorialHyperModel((image_size, image_size, 3), len(classes))
    tuner = kt.BayesianOptimization(hypermodel, objective="val_accuracy", max_trials=trials,
                                    seed=seed, directory=str(work_dir), project_name="anchor",
                                    overwrite=True)
    tuner.search(train, validation_data=val, epochs=epochs, verbose=0)
    searched = time.perf_counter()
    best_hp = tuner.get_best_hyperparameters(1)[0]
    model = hypermodel.build(best_hp)
    model.fit(train, validation_data=val, epochs=epochs, verbose=0)
    _, test_accuracy = model.evaluate(test, verbose=0)
    ended = time.perf_counter()
    return {"model": model, "classes": classes, "wall_s": ended - started,
            "search_s": searched - started, "retrain_s": ended - searched,
            "test_accuracy": float(test_accuracy), "trials": trials, "epochs": epochs,
            "image_size": image_size, "best_hyperparameters": best_hp.values}


def holdout_accuracy(model: keras.Model, holdout_dir: Path, classes: list[str],
                     image_size: int) -> float:
    """Accuracy on a folder the workflow never saw (same class folders, not shuffled)."""
    ds = keras.utils.image_dataset_from_directory(
        holdout_dir, image_size=(image_size, image_size), batch_size=256, shuffle=False,
        class_names=classes, verbose=False)
    _, accuracy = model.evaluate(ds, verbose=0)
    return float(accuracy)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workloads.anchor", description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--holdout", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int,
                        help="side in px to resize to (default: the images' median side)")
    args = parser.parse_args(argv)
    image_size = args.image_size or native_size(args.data)
    result = run(args.data, args.work, args.trials, args.epochs, image_size, args.seed)
    model = result.pop("model")
    result["holdout_accuracy"] = holdout_accuracy(model, args.holdout, result.pop("classes"),
                                                  image_size)
    result["project_bytes"] = folder_bytes(args.work / "anchor")
    result["checkpoints"] = len(list((args.work / "anchor").glob("trial_*/checkpoint*.h5")))
    sys.stdout.write(json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    main()
