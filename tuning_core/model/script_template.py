"""Rerun a KerasTuner search of the tuning dashboard with keras, keras_tuner and tensorflow alone.

Written by the dashboard for run __RUN_NAME__ (``python -m tuning_core script``). It needs
no part of the dashboard: the run's settings, search space and file split are in ``RUN``
below. It builds the same hyperparameters (names, ranges, conditions), the same tuner with
the same settings and seed, trains on the same files (search subset, validation), then
retrains the best trial on all training images and tests it on the test images.

    python search_script.py                        # the run's data folder, as the run did
    python search_script.py --data /my/images      # the same class folders elsewhere
    python search_script.py --max-trials 1 --epochs 1 --retrain-epochs 1   # a quick look

Results go to --out (default ./search-<run>): the KerasTuner project (``tuner/``),
``best_model.keras`` (images of the run's size and colour mode, pixels 0..255) and
``test_metrics.json``. One device, float32 (the dashboard's mixed precision and
distribution settings are not repeated here).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import keras_tuner as kt
import numpy as np
import tensorflow as tf
from keras import layers

RUN: dict = {}  # the run's settings, space and split: filled in when the script is written

FLATTEN_MAX_FEATURES = 8192
NONE = "none"
OPTIMIZERS = {
    "adam": lambda lr: keras.optimizers.Adam(learning_rate=lr),
    "sgd": lambda lr: keras.optimizers.SGD(learning_rate=lr, momentum=0.9),
    "rmsprop": lambda lr: keras.optimizers.RMSprop(learning_rate=lr),
    "adamw": lambda lr: keras.optimizers.AdamW(learning_rate=lr),
    "nadam": lambda lr: keras.optimizers.Nadam(learning_rate=lr),
}
AUGMENTATIONS = {
    "flip": lambda: layers.RandomFlip("horizontal", name="augment_flip"),
    "rotation": lambda: layers.RandomRotation(0.1, name="augment_rotation"),
    "zoom": lambda: layers.RandomZoom(0.1, name="augment_zoom"),
}
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


# ------------------------------------------------------------------ hyperparameters


def choice(hp, name, values):
    """hp.Fixed for one value, else hp.Choice (duplicates dropped, order kept)."""
    unique = list(dict.fromkeys(values))
    return hp.Fixed(name, unique[0]) if len(unique) == 1 else hp.Choice(name, unique)


def toggle(hp, name, value):
    """"tuned" is a boolean hyperparameter; "on" and "off" are fixed."""
    return hp.Boolean(name) if value == "tuned" else hp.Fixed(name, value == "on")


def count(hp, name, r):
    return hp.Fixed(name, r["min"]) if r["min"] == r["max"] else hp.Int(name, r["min"], r["max"])


def learning_rate(hp, r, name="learning_rate"):
    lo, hi = r["learning_rate_min"], r["learning_rate_max"]
    return hp.Fixed(name, lo) if lo == hi else hp.Float(name, lo, hi, sampling="log")


def dropout_values(d):
    """Every step from min to max, max included (an ordered hp.Choice)."""
    if d["min"] == d["max"] or d["step"] <= 0:
        return [float(d["min"])]
    n = int(np.floor((d["max"] - d["min"]) / d["step"] + 1e-9)) + 1
    return [round(d["min"] + k * d["step"], 10) for k in range(n)]


def active_from(i, r):
    """The block counts in which block i (0-based) exists."""
    return list(range(max(i + 1, r["min"]), r["max"] + 1))


# ------------------------------------------------------------------ the model


class SearchHyperModel(kt.HyperModel):
    """The dashboard's CNN family: augmentation, conv blocks or a backbone, dense blocks."""

    def __init__(self, space, image_size, channels, num_classes, backbones):
        super().__init__(name="cnn")
        self.space, self.size, self.channels = space, image_size, channels
        self.num_classes, self.backbones = num_classes, backbones

    @property
    def backbone_active(self):
        return any(c != NONE for c in self.space["backbone"]["choices"])

    def build(self, hp):
        inputs = keras.Input((self.size, self.size, self.channels), name="image")
        x = self.features(hp, self.augment(hp, inputs))
        x = self.dense_blocks(hp, x)
        outputs = layers.Dense(self.num_classes, activation="softmax", name="classes",
                               dtype="float32")(x)
        model = keras.Model(inputs, outputs, name="cnn")
        self.compile(hp, model)
        return model

    def scope(self, hp, values):
        if not self.backbone_active:
            from contextlib import nullcontext
            return nullcontext()
        return hp.conditional_scope("backbone", values)

    def augment(self, hp, x):
        t = self.space["training"]
        for name in ("flip", "rotation", "zoom"):
            if toggle(hp, f"augment_{name}", t[name]):
                x = AUGMENTATIONS[name]()(x)
        return x

    def features(self, hp, x):
        b = self.space["backbone"]
        chosen = choice(hp, "backbone", b["choices"]) if self.backbone_active else NONE
        names = [c for c in b["choices"] if c != NONE]
        conv = top = None
        if NONE in b["choices"]:
            with self.scope(hp, [NONE]):
                conv = self.conv_features(hp, x, build=chosen == NONE)
        if self.backbone_active:
            with hp.conditional_scope("backbone", names):
                top = choice(hp, "backbone_trainable_top", b["trainable_top"])
        return conv if chosen == NONE else self.pretrained(x, chosen, top)

    def conv_features(self, hp, x, build):
        if not build:
            self.conv_blocks(hp, x, build=False)
            return None
        x = layers.Rescaling(1.0 / 255, name="rescale")(x)
        x, size = self.conv_blocks(hp, x)
        features = size * size * int(x.shape[-1])
        head = layers.Flatten if features <= FLATTEN_MAX_FEATURES else layers.GlobalAveragePooling2D
        return head(name="head")(x)

    def conv_blocks(self, hp, x, build=True):
        r, size = self.space["conv_blocks"], self.size
        n = count(hp, "conv_blocks", r)
        for i, block in enumerate(self.space["conv"]):
            with hp.conditional_scope("conv_blocks", active_from(i, r)):
                p = {"filters": choice(hp, f"conv_{i}_filters", block["filters"]),
                     "kernel_size": choice(hp, f"conv_{i}_kernel_size", block["kernel_sizes"]),
                     "activation": choice(hp, f"conv_{i}_activation", block["activations"]),
                     "batch_norm": toggle(hp, f"conv_{i}_batch_norm", block["batch_norm"]),
                     "dropout": choice(hp, f"conv_{i}_dropout", dropout_values(block["dropout"])),
                     "pooling": choice(hp, f"conv_{i}_pooling", block["pooling"])}
            if build and i < n:
                x, size = conv_block(x, i, p, size)
        return x, size

    def dense_blocks(self, hp, x):
        r = self.space["dense_blocks"]
        n = count(hp, "dense_blocks", r)
        for i, block in enumerate(self.space["dense"]):
            with hp.conditional_scope("dense_blocks", active_from(i, r)):
                units = choice(hp, f"dense_{i}_units", block["units"])
                activation = choice(hp, f"dense_{i}_activation", block["activations"])
                rate = choice(hp, f"dense_{i}_dropout", dropout_values(block["dropout"]))
            if i < n:
                x = layers.Dense(units, activation=activation, name=f"dense_{i}")(x)
                if rate > 0:
                    x = layers.Dropout(rate, name=f"dense_{i}_dropout")(x)
        return x

    def pretrained(self, x, name, top):
        if self.channels == 1:
            x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
        spec = self.backbones[name]
        if name == "ResNet50":  # caffe preprocessing as a fixed Dense layer (RGB->BGR, means)
            dense = layers.Dense(3, trainable=False, name="resnet50_preprocess")
            out = dense(x)
            dense.set_weights([np.eye(3, dtype="float32")[::-1].T.copy(),
                               -np.array(CAFFE_MEAN_BGR, dtype="float32")])
            x = out
        weights = self.space["backbone"]["weights"]
        backbone = getattr(keras.applications, spec["application"])(
            include_top=False, pooling="avg", input_shape=(self.size, self.size, 3),
            weights=None if weights == NONE else weights, **spec["options"])
        backbone.trainable = top > 0
        if top > 0:
            cut = max(0, len(backbone.layers) - top)
            for i, layer in enumerate(backbone.layers):
                layer.trainable = i >= cut and type(layer).__name__ != "BatchNormalization"
        return backbone(x, training=False)

    def compile(self, hp, model):
        t, b = self.space["training"], self.space["backbone"]
        optimizer = choice(hp, "optimizer", t["optimizers"])
        lr = None
        if NONE in b["choices"]:
            with self.scope(hp, [NONE]):
                lr = learning_rate(hp, t)
        if self.backbone_active:
            with hp.conditional_scope("backbone", [c for c in b["choices"] if c != NONE]):
                fine_tune = learning_rate(hp, b, "fine_tune_learning_rate")
            lr = fine_tune if lr is None else lr
        choice(hp, "batch_size", t["batch_sizes"])
        smoothing_choices = t.get("label_smoothing", [0.0])  # registered only when used
        smoothing = choice(hp, "label_smoothing", smoothing_choices) \
            if list(smoothing_choices) != [0.0] else 0.0
        if t.get("class_weights", "off") != "off":
            toggle(hp, "class_weights", t["class_weights"])
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=float(smoothing)) \
            if smoothing else "categorical_crossentropy"
        model.compile(optimizer=OPTIMIZERS[optimizer](lr), loss=loss, metrics=["accuracy"])

    def fit(self, hp, model, data, **kwargs):
        batch_size = hp.get("batch_size")
        kwargs.setdefault("shuffle", False)
        if hp.values.get("class_weights"):  # every class weighs the same in the loss
            kwargs["class_weight"] = data.class_weights()
        return model.fit(data.train(batch_size), validation_data=data.validation(batch_size),
                         **kwargs)


def conv_block(x, i, p, size):
    x = layers.Conv2D(p["filters"], p["kernel_size"], padding="same", name=f"conv_{i}")(x)
    if p["batch_norm"]:
        x = layers.BatchNormalization(name=f"conv_{i}_bn")(x)
    x = layers.Activation(p["activation"], name=f"conv_{i}_act")(x)
    if p["pooling"] != "none" and size // 2 >= 2:
        pool = layers.MaxPooling2D if p["pooling"] == "max" else layers.AveragePooling2D
        x, size = pool(2, name=f"conv_{i}_pool")(x), size // 2
    if p["dropout"] > 0:
        x = layers.Dropout(p["dropout"], name=f"conv_{i}_dropout")(x)
    return x, size


# ------------------------------------------------------------------ data


def decode(path, channels, size):
    """One image as in the dashboard: RGB decode, grey if asked, bilinear resize, uint8."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.cast(image, tf.float32)
    if channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    image = tf.image.resize(image, [size, size], method="bilinear")
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def load(root, items, channels, size):
    """(uint8 images, int labels) of a list of [relative path, label]."""
    images = np.stack([decode(str(Path(root) / p), channels, size).numpy() for p, _ in items])
    return images, np.array([label for _, label in items], dtype="int64")


class Data:
    """Training and validation batches (float32 pixels 0..255, one-hot labels)."""

    def __init__(self, train, val, num_classes, seed):
        self.train_arrays, self.val_arrays = train, val
        self.num_classes, self.seed = num_classes, seed

    def _batches(self, arrays, batch_size, shuffle):
        images, labels = arrays
        data = tf.data.Dataset.from_tensor_slices(
            (images.astype("float32"),
             keras.utils.to_categorical(labels, self.num_classes).astype("float32")))
        if shuffle:
            data = data.shuffle(len(images), seed=self.seed, reshuffle_each_iteration=True)
        return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def train(self, batch_size):
        return self._batches(self.train_arrays, batch_size, shuffle=True)

    def validation(self, batch_size):
        return self._batches(self.val_arrays, batch_size, shuffle=False)

    def class_weights(self):  # "balanced": total / (classes x count) per class
        counts = np.bincount(self.train_arrays[1], minlength=self.num_classes)
        return {i: counts.sum() / (len(counts) * n) if n else 1.0 for i, n in enumerate(counts)}


# ------------------------------------------------------------------ tuner and search


class _Capped:
    """Ends the search once max_trials trials have ended (as the dashboard does for
    Hyperband, whose brackets otherwise repeat without end)."""

    trial_cap = None

    def pre_create_trial(self):
        super().pre_create_trial()
        if self.trial_cap is not None and len(self.oracle.end_order) >= self.trial_cap:
            raise _Done()


class _Done(Exception):
    pass


def make_tuner(hypermodel, tuner, out, max_trials):
    common = dict(hypermodel=hypermodel,
                  objective=kt.Objective(tuner["objective"], tuner["direction"]),
                  executions_per_trial=tuner["executions_per_trial"], seed=tuner["seed"],
                  max_consecutive_failed_trials=tuner["max_consecutive_failed"],
                  directory=str(out), project_name="tuner", overwrite=False)
    name = tuner["tuner"]
    if name == "hyperband":
        capped = type("CappedHyperband", (_Capped, kt.Hyperband), {})
        built = capped(max_epochs=tuner["epochs"], factor=tuner["hyperband_factor"],
                       hyperband_iterations=None, **common)
        built.trial_cap = max_trials
        return built
    kinds = {"random": kt.RandomSearch, "bayesian": kt.BayesianOptimization,
             "grid": kt.GridSearch}
    return kinds[name](max_trials=max_trials, **common)


def early_stopping(tuner, patience):
    return keras.callbacks.EarlyStopping(monitor=tuner["objective"], mode=tuner["direction"],
                                         patience=patience)


def search(tuner_obj, data, tuner, epochs):
    callbacks = [keras.callbacks.TerminateOnNaN()]
    if tuner["patience"]:
        callbacks.append(early_stopping(tuner, tuner["patience"]))
    with contextlib.suppress(_Done):
        tuner_obj.search(data, epochs=epochs, callbacks=callbacks, verbose=2)


def retrain(hypermodel, hp, data, tuner, epochs, out):
    """The best trial on all training images, best epoch kept, as the dashboard retrains."""
    model = hypermodel.build(hp)
    checkpoint = Path(out) / "checkpoint.weights.h5"
    monitor, mode = tuner["objective"], tuner["direction"]
    callbacks = [keras.callbacks.TerminateOnNaN(),
                 keras.callbacks.EarlyStopping(monitor=monitor, mode=mode,
                                               patience=max(3, epochs // 5)),
                 keras.callbacks.ModelCheckpoint(str(checkpoint), monitor=monitor, mode=mode,
                                                 save_best_only=True, save_weights_only=True),
                 keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                   patience=max(2, epochs // 10), min_lr=1e-6)]
    hypermodel.fit(hp, model, data, epochs=epochs, callbacks=callbacks, verbose=2)
    if checkpoint.is_file():
        model.load_weights(str(checkpoint))
        checkpoint.unlink()
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=RUN["data_dir"], help="the class folders")
    parser.add_argument("--out", default=f"search-{RUN['name']}", help="where results go")
    parser.add_argument("--max-trials", type=int, default=RUN["tuner"]["max_trials"])
    parser.add_argument("--epochs", type=int, default=RUN["tuner"]["epochs"])
    parser.add_argument("--retrain-epochs", type=int, default=RUN["retrain_epochs"],
                        help="0 skips the retrain")
    args = parser.parse_args(argv)
    tuner, split, image = dict(RUN["tuner"]), RUN["split"], RUN["image"]
    tuner["epochs"] = args.epochs
    keras.utils.set_random_seed(tuner["seed"])
    channels, size = (1 if image["color_mode"] == "grayscale" else 3), image["image_size"]
    n = len(split["classes"])
    val = load(args.data, split["val"], channels, size)
    search_data = Data(load(args.data, split["search_train"], channels, size), val, n,
                       RUN["split_seed"])
    hypermodel = SearchHyperModel(RUN["space"], size, channels, n, RUN["backbones"])
    out = Path(args.out)
    tuner_obj = make_tuner(hypermodel, tuner, out, args.max_trials)
    search(tuner_obj, search_data, tuner, args.epochs)
    tuner_obj.results_summary(num_trials=3)
    if args.retrain_epochs < 1:
        return 0
    best = tuner_obj.get_best_hyperparameters(1)[0]
    full = Data(load(args.data, split["train"], channels, size), val, n, RUN["split_seed"])
    model = retrain(hypermodel, best, full, tuner, args.retrain_epochs, out)
    images, labels = load(args.data, split["test"], channels, size)
    loss, accuracy = model.evaluate(images.astype("float32"),
                                    keras.utils.to_categorical(labels, n), verbose=0)
    model.save(out / "best_model.keras")
    metrics = {"test_accuracy": float(accuracy), "test_loss": float(loss),
               "test_images": len(labels), "classes": split["classes"],
               "hyperparameters": best.values}
    (out / "test_metrics.json").write_text(json.dumps(metrics, indent=1))
    print(json.dumps({k: metrics[k] for k in ("test_accuracy", "test_loss", "test_images")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
