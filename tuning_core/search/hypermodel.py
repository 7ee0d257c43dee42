"""A KerasTuner HyperModel that builds a compiled Keras CNN from a :class:`SearchSpace`.

Model: Input (size, size, channels) of float pixels 0..255 -> augmentation (when on or
tuned to True) -> Rescaling(1/255) -> conv blocks -> head -> dense blocks -> softmax.

With a pretrained backbone (``backbone`` other than "none"), the conv blocks and the head
are skipped: augmentation -> the grayscale channel repeated to three (Concatenate) -> the
backbone's own preprocessing (see :mod:`tuning_core.space.backbones`) -> the application with
include_top=False and pooling="avg", called with training=False (batch norm keeps its
ImageNet statistics), all frozen but its last ``backbone_trainable_top`` layers -> dense
blocks -> softmax. Its learning rate is ``fine_tune_learning_rate``, sampled from the
backbone's range. Only built-in layers: a saved model loads without this package.

Each conv block is Conv2D(filters, kernel, padding="same") -> BatchNormalization (when
chosen) -> Activation -> MaxPooling2D(2) / AveragePooling2D(2) (skipped when the map
would become smaller than 2x2, or "none") -> Dropout (when above 0).

Head rule: Flatten when the final map holds at most 8,192 values (it keeps where things
are, which small images need: one 16-filter block on 32x32 digits learns nothing in a few
epochs through global average pooling, and reaches about 90% through Flatten),
GlobalAveragePooling2D on a larger map (its size then does not grow with the image size).

Hyperparameters: conv_blocks, conv_{i}_filters, conv_{i}_kernel_size,
conv_{i}_activation, conv_{i}_batch_norm, conv_{i}_dropout, conv_{i}_pooling,
dense_blocks, dense_{i}_units, dense_{i}_activation, dense_{i}_dropout, optimizer,
learning_rate (log scale), batch_size, augment_flip, augment_rotation, augment_zoom; with
backbones chosen also backbone, backbone_trainable_top and fine_tune_learning_rate, and the
conv parameters and learning_rate live in ``conditional_scope("backbone", ["none"])``.
Block i's parameters live in ``hp.conditional_scope("<kind>_blocks", [counts > i])``,
so they are active only in trials with more than i blocks. A choice with one value is
``hp.Fixed``. Dropout rates are an ordered ``hp.Choice`` of the range's steps, because
KerasTuner's ``Float(0, 0.5, step=0.1)`` never samples 0.5 (it floors 0.5 // 0.1 to 4).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import keras
import keras_tuner
from keras import layers

from tuning_core.core.errors import SettingsError
from tuning_core.space import backbones
from tuning_core.space.backbones import NONE
from tuning_core.space.schema import (
    FLATTEN_MAX_FEATURES,
    BackboneSpace,
    ConvBlockSpace,
    DenseBlockSpace,
    IntRange,
    SearchSpace,
    Toggle,
    TrainingSpace,
    check,
    check_for_image,
)

OPTIMIZER_FACTORIES: dict[str, Callable[[float], keras.optimizers.Optimizer]] = {
    "adam": lambda lr: keras.optimizers.Adam(learning_rate=lr),
    "sgd": lambda lr: keras.optimizers.SGD(learning_rate=lr, momentum=0.9),
    "rmsprop": lambda lr: keras.optimizers.RMSprop(learning_rate=lr),
    "adamw": lambda lr: keras.optimizers.AdamW(learning_rate=lr),
    "nadam": lambda lr: keras.optimizers.Nadam(learning_rate=lr),
}

AUGMENTATIONS: dict[str, Callable[[], layers.Layer]] = {
    "flip": lambda: layers.RandomFlip("horizontal", name="augment_flip"),
    "rotation": lambda: layers.RandomRotation(0.1, name="augment_rotation"),
    "zoom": lambda: layers.RandomZoom(0.1, name="augment_zoom"),
}

HP: TypeAlias = keras_tuner.HyperParameters  # an alias, so annotations may name it


def _choice(hp: HP, name: str, values: Sequence[Any]) -> Any:
    """hp.Fixed for a single value, else hp.Choice (duplicates dropped, order kept)."""
    unique = list(dict.fromkeys(values))
    return hp.Fixed(name, unique[0]) if len(unique) == 1 else hp.Choice(name, unique)


def _toggle(hp: HP, name: str, toggle: Toggle) -> Any:
    return hp.Boolean(name) if toggle is Toggle.TUNED else hp.Fixed(name, toggle is Toggle.ON)


def _count(hp: HP, name: str, r: IntRange) -> Any:
    return hp.Fixed(name, r.min) if r.min == r.max else hp.Int(name, r.min, r.max)


def _learning_rate(hp: HP, r: TrainingSpace | BackboneSpace, name: str = "learning_rate") -> Any:
    lo, hi = r.learning_rate_min, r.learning_rate_max
    if lo == hi:
        return hp.Fixed(name, lo)
    return hp.Float(name, lo, hi, sampling="log")


def _active_from(i: int, r: IntRange) -> list[int]:
    """The block counts in which block i (0-based) exists."""
    return list(range(max(i + 1, r.min), r.max + 1))


def _conv_params(hp: HP, i: int, b: ConvBlockSpace) -> dict[str, Any]:
    return {
        "filters": _choice(hp, f"conv_{i}_filters", b.filters),
        "kernel_size": _choice(hp, f"conv_{i}_kernel_size", b.kernel_sizes),
        "activation": _choice(hp, f"conv_{i}_activation", b.activations),
        "batch_norm": _toggle(hp, f"conv_{i}_batch_norm", b.batch_norm),
        "dropout": _choice(hp, f"conv_{i}_dropout", b.dropout.values()),
        "pooling": _choice(hp, f"conv_{i}_pooling", b.pooling),
    }


def _dense_params(hp: HP, i: int, b: DenseBlockSpace) -> dict[str, Any]:
    return {
        "units": _choice(hp, f"dense_{i}_units", b.units),
        "activation": _choice(hp, f"dense_{i}_activation", b.activations),
        "dropout": _choice(hp, f"dense_{i}_dropout", b.dropout.values()),
    }


def _conv_block(x: Any, i: int, p: dict[str, Any], size: int) -> tuple[Any, int]:
    """Add conv block i to ``x``; returns the output and its spatial size."""
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


def _dense_block(x: Any, i: int, p: dict[str, Any]) -> Any:
    x = layers.Dense(p["units"], activation=p["activation"], name=f"dense_{i}")(x)
    if p["dropout"] > 0:
        x = layers.Dropout(p["dropout"], name=f"dense_{i}_dropout")(x)
    return x


class CNNHyperModel(keras_tuner.HyperModel):
    """Builds and trains one CNN per trial from a search space (see the module docstring)."""

    def __init__(self, space: SearchSpace, image_size: int, channels: int, num_classes: int):
        """Raises SearchSpaceError for an invalid space or a backbone needing larger images,
        SettingsError for bad shapes or ImageNet weights missing from Keras' cache."""
        check(space)
        check_for_image(space, image_size)
        backbones.check_weights(space.backbone.names, space.backbone.weights)
        if image_size < 1 or channels not in (1, 3) or num_classes < 2:
            raise SettingsError(
                "expected image_size >= 1, channels 1 or 3 and num_classes >= 2; got "
                f"image_size={image_size}, channels={channels}, num_classes={num_classes}"
            )
        super().__init__(name="cnn")
        self.space, self.image_size = space, image_size
        self.channels, self.num_classes = channels, num_classes

    def build(self, hp: HP) -> keras.Model:
        """A compiled model for the values in ``hp`` (registering the space on first call)."""
        inputs = keras.Input((self.image_size, self.image_size, self.channels), name="image")
        x = self._features(hp, self._augment(hp, inputs))
        x = self._dense_blocks(hp, x)
        # float32 probabilities under mixed precision too (a float16 softmax loses them)
        outputs = layers.Dense(self.num_classes, activation="softmax", name="classes",
                               dtype="float32")(x)
        model = keras.Model(inputs, outputs, name="cnn")
        self._compile(hp, model)
        return model

    def _features(self, hp: HP, x: Any) -> Any:
        """Conv blocks and head, or the trial's pretrained backbone; registers both."""
        b = self.space.backbone
        chosen = self._backbone_choice(hp)
        conv = top = None
        if NONE in b.choices:
            with self._scope(hp, [NONE]):
                conv = self._conv_features(hp, x, build=chosen == NONE)
        if b.active:
            with hp.conditional_scope("backbone", b.names):
                top = _choice(hp, "backbone_trainable_top", b.trainable_top)
        if chosen == NONE:
            return conv
        assert top is not None  # a backbone was chosen, so its scope above set it
        return self._pretrained(x, chosen, top)

    def _backbone_choice(self, hp: HP) -> str:
        """The trial's backbone; no hyperparameter at all when only "none" is chosen."""
        if not self.space.backbone.active:
            return NONE
        return _choice(hp, "backbone", self.space.backbone.choices)

    def _scope(self, hp: HP, values: list[str]) -> Any:
        """Parameters active only for these backbone choices (no scope without backbones)."""
        if not self.space.backbone.active:
            return contextlib.nullcontext()
        return hp.conditional_scope("backbone", values)

    def _conv_features(self, hp: HP, x: Any, build: bool) -> Any:
        """Registers the conv parameters; when ``build``, the rescaled conv blocks and head."""
        if not build:  # this trial's backbone replaces the conv blocks
            self._conv_blocks(hp, x, build=False)
            return None
        x = layers.Rescaling(1.0 / 255, name="rescale")(x)
        x, size = self._conv_blocks(hp, x)
        features = size * size * int(x.shape[-1])
        head = layers.Flatten if features <= FLATTEN_MAX_FEATURES else layers.GlobalAveragePooling2D
        return head(name="head")(x)

    def _pretrained(self, x: Any, name: str, top: int) -> Any:
        if self.channels == 1:
            x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
        x = backbones.preprocessing_layer(name, x)
        backbone = backbones.build_backbone(name, self.image_size, self.space.backbone.weights)
        backbones.set_trainable_top(backbone, top)
        return backbone(x, training=False)

    def _augment(self, hp: HP, x: Any) -> Any:
        t = self.space.training
        for name, toggle in (("flip", t.flip), ("rotation", t.rotation), ("zoom", t.zoom)):
            if _toggle(hp, f"augment_{name}", toggle):
                x = AUGMENTATIONS[name]()(x)
        return x

    def _conv_blocks(self, hp: HP, x: Any, build: bool = True) -> tuple[Any, int]:
        r, size = self.space.conv_blocks, self.image_size
        count = _count(hp, "conv_blocks", r)
        for i, block in enumerate(self.space.conv):
            with hp.conditional_scope("conv_blocks", _active_from(i, r)):
                params = _conv_params(hp, i, block)
            if build and i < count:
                x, size = _conv_block(x, i, params, size)
        return x, size

    def _dense_blocks(self, hp: HP, x: Any) -> Any:
        r = self.space.dense_blocks
        count = _count(hp, "dense_blocks", r)
        for i, block in enumerate(self.space.dense):
            with hp.conditional_scope("dense_blocks", _active_from(i, r)):
                params = _dense_params(hp, i, block)
            if i < count:
                x = _dense_block(x, i, params)
        return x

    def _compile(self, hp: HP, model: keras.Model) -> None:
        t = self.space.training
        optimizer = _choice(hp, "optimizer", t.optimizers)
        b, learning_rate = self.space.backbone, None
        if NONE in b.choices:
            with self._scope(hp, [NONE]):
                learning_rate = _learning_rate(hp, t)
        if b.active:
            with hp.conditional_scope("backbone", b.names):
                fine_tune = _learning_rate(hp, b, "fine_tune_learning_rate")
            learning_rate = fine_tune if learning_rate is None else learning_rate
        assert learning_rate is not None  # "none" or a backbone is always among the choices
        _choice(hp, "batch_size", t.batch_sizes)  # registered here so the oracle sees it
        # Registered only when the space uses them, so a space without them (and every run
        # made before them) has the same hyperparameters as before.
        smoothing = _choice(hp, "label_smoothing", t.label_smoothing) \
            if list(t.label_smoothing) != [0.0] else 0.0
        if t.class_weights is not Toggle.OFF:
            _toggle(hp, "class_weights", t.class_weights)
        model.compile(
            optimizer=OPTIMIZER_FACTORIES[optimizer](learning_rate),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=float(smoothing))
            if smoothing else "categorical_crossentropy",
            metrics=["accuracy"],
        )

    def fit(self, hp: HP, model: keras.Model, data: Any, *args: Any, **kwargs: Any) -> Any:
        """Train on ``data.train(batch_size)``, validate on ``data.validation(batch_size)``.

        ``data`` is a dataset.TrainingData or anything with those two methods; ``kwargs``
        (epochs, callbacks, verbose... including KerasTuner's own callbacks) go to
        ``model.fit``. Returns the History. TypeError for extra positional arguments.
        """
        if args:
            raise TypeError(f"fit takes the data and keywords only; got {len(args)} more")
        batch_size = hp.get("batch_size")
        train, validation = data.train(batch_size), data.validation(batch_size)
        kwargs.setdefault("shuffle", False)  # the data shuffles itself; Keras warns otherwise
        return model.fit(train, validation_data=validation, **fit_options(hp, data), **kwargs)


def fit_options(hp: HP, data: Any) -> dict[str, Any]:
    """What ``model.fit`` needs beyond the data for the values in ``hp``: the "balanced"
    class weights (each class weighs total / (classes x its count) in the loss) when the
    trial uses them. The search's fit and the retrain's both ask here."""
    if not hp.values.get("class_weights"):
        return {}
    return {"class_weight": data.class_weights()}
