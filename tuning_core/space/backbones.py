"""Pretrained backbones: one registry of Keras applications, and where their weights live.

Each :class:`Backbone` says how to build the application (without its top, average
pooled), its smallest image size, size and speed, and the ImageNet weights file Keras'
own loader (``keras.utils.get_file`` inside ``keras.applications``) looks for in its cache,
``$KERAS_HOME/models`` or ``~/.keras/models``. Keras checks that file's hash and downloads
it again when the hash differs, so a file counts as available only when its hash matches.

Keras is imported inside the functions that build layers; the registry and
:func:`weights_status` are cheap enough for pages.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuning_core.core.errors import SettingsError

__all__ = ["NONE", "WEIGHTS", "Backbone", "BACKBONES", "WeightsStatus", "keras_models_dir",
           "weights_status", "check_weights", "fetch_weights", "build_backbone",
           "preprocessing_layer", "set_trainable_top"]  # fmt: skip

NONE = "none"  # the choice "no backbone": today's conv blocks
WEIGHTS = ("imagenet", "none")
_GCS = "https://storage.googleapis.com/"
# RGB -> BGR and the ImageNet channel means, as keras.applications.resnet50.preprocess_input
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclass(frozen=True)
class Backbone:
    """A Keras application used as a feature extractor (include_top=False, pooling="avg")."""

    name: str
    application: str  # the keras.applications attribute
    options: tuple[tuple[str, Any], ...]  # extra constructor keywords
    min_size: int  # pixels; Keras refuses smaller inputs
    params: int  # without the top, counted here with weights=None
    layers: int
    speed: str  # a relative note for people, from Keras' published figures (not measured here)
    file: str  # the name Keras' loader gives the no-top ImageNet weights in its cache
    url: str
    file_hash: str  # the md5 Keras checks the cached file against
    preprocessing: str

    def describe(self) -> str:
        """One line for people: size, speed, smallest image."""
        return (f"{self.name}: {self.params / 1e6:.1f}M parameters, {self.layers} layers, "
                f"{self.speed}; images of at least {self.min_size} px")


def _entry(name: str, app: str, file: str, folder: str, md5: str, speed: str, params: int,
           layers: int, preprocessing: str, **options: Any) -> Backbone:
    return Backbone(name, app, tuple(options.items()), 32, params, layers, speed, file,
                    _GCS + folder + file, md5, preprocessing)


_INSIDE = "inside the model (include_preprocessing)"
BACKBONES: dict[str, Backbone] = {b.name: b for b in (
    _entry("MobileNetV3Small", "MobileNetV3Small",
           "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
           "tensorflow/keras-applications/mobilenet_v3/", "d3e8ec802a04aa4fc771ee12a9a9b836",
           "fastest; fine on a CPU", 939_120, 158, _INSIDE, include_preprocessing=True),
    _entry("MobileNetV3Large", "MobileNetV3Large",
           "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
           "tensorflow/keras-applications/mobilenet_v3/", "07fb09a5933dd0c8eaafa16978110389",
           "fast; fine on a CPU", 2_996_352, 188, _INSIDE, include_preprocessing=True),
    _entry("EfficientNetB0", "EfficientNetB0", "efficientnetb0_notop.h5", "keras-applications/",
           "50bc09e76180e00e4465e1a485ddc09d", "moderate on a CPU", 4_049_571, 238,
           "inside the model (Rescaling and Normalization)"),
    _entry("EfficientNetV2B0", "EfficientNetV2B0", "efficientnetv2-b0_notop.h5",
           "tensorflow/keras-applications/efficientnet_v2/", "893217f2bb855e2983157299931e43ff",
           "moderate on a CPU", 5_919_312, 271, _INSIDE, include_preprocessing=True),
    _entry("ResNet50", "ResNet50", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
           "tensorflow/keras-applications/resnet/", "4d473c1dd8becc155b73f8504c6f6626",
           "slow on a CPU; for a GPU", 23_587_712, 176,
           "RGB to BGR and ImageNet means subtracted (a fixed Dense layer)"),
)}


@dataclass(frozen=True)
class WeightsStatus:
    """Whether a backbone's ImageNet weights are in Keras' cache, and where they belong."""

    available: bool
    file: str
    folder: Path
    url: str
    reason: str = ""  # why not available: "missing" or "checksum differs"

    def describe(self) -> str:
        """A sentence for people: available, or what to put where."""
        if self.available:
            return f"ImageNet weights available: {self.folder / self.file}"
        what = ("is in Keras' cache but its checksum differs from the one Keras expects "
                "(an incomplete download?)" if self.reason == "checksum differs"
                else "is not in Keras' cache")
        return (f"The ImageNet weights file {self.file} {what}. Download {self.url} and put "
                f"it in {self.folder}, or choose weights: none.")


def keras_models_dir() -> Path:
    """The folder Keras' loader caches application weights in (as keras.utils.get_file).

    ``$KERAS_HOME/models``, else ``~/.keras/models``; ``/tmp/.keras/models`` when that
    home exists but cannot be written (Keras creates a missing one when imported).
    """
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    if home.exists() and not os.access(home, os.W_OK):
        home = Path("/tmp/.keras")
    return home / "models"


@functools.lru_cache(maxsize=16)
def _md5(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _backbone(name: str) -> Backbone:
    if name not in BACKBONES:
        raise SettingsError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    return BACKBONES[name]


def weights_status(name: str) -> WeightsStatus:
    """Whether ``name``'s ImageNet weights are cached with the hash Keras expects.

    SettingsError for an unknown backbone name.
    """
    b, folder = _backbone(name), keras_models_dir()
    path = folder / b.file
    if not path.is_file():
        return WeightsStatus(False, b.file, folder, b.url, "missing")
    stat = path.stat()
    good = _md5(str(path), stat.st_size, stat.st_mtime_ns) == b.file_hash
    return WeightsStatus(good, b.file, folder, b.url, "" if good else "checksum differs")


def check_weights(choices: list[str], weights: str, download: bool = False) -> None:
    """Make sure the ImageNet weights of every chosen backbone are in Keras' cache.

    With ``download``, missing ones are fetched first through Keras' own loader
    (:func:`fetch_weights`; the command line does this, pages never do on their own).
    Raises SettingsError naming the file, the folder and the URL when one is missing
    or cannot be had, so that no trial fails on a download half-way.
    """
    if weights != "imagenet":
        return
    for name in (c for c in choices if c != NONE):
        status = weights_status(name)
        if status.available:
            continue
        if not download:
            raise SettingsError(f"{name}: {status.describe()}")
        fetch_weights(name)


def fetch_weights(name: str) -> Path:
    """Download ``name``'s ImageNet weights with Keras' own loader into its cache.

    SettingsError with the manual steps when the download fails (no network...).
    """
    import keras

    b = _backbone(name)
    try:
        # the folder weights_status looks in (Keras reads KERAS_HOME once, at its import,
        # and falls back to /tmp/.keras for a folder that does not exist yet)
        folder = keras_models_dir()
        folder.mkdir(parents=True, exist_ok=True)
        return Path(keras.utils.get_file(b.file, b.url, cache_dir=str(folder.parent),
                                         cache_subdir="models", file_hash=b.file_hash))
    except Exception as error:  # URL, hash and OS errors alike: say what to do instead
        raise SettingsError(f"{name}: the ImageNet weights could not be downloaded "
                            f"({type(error).__name__}: {error}). "
                            f"{weights_status(name).describe()}") from error


def build_backbone(name: str, size: int, weights: str) -> Any:
    """The application without its top, average pooled, for (size, size, 3) inputs 0..255.

    ``weights`` "imagenet" goes through Keras' own loader and cache; "none" starts random.
    """
    import keras

    b = _backbone(name)
    constructor: Callable[..., Any] = getattr(keras.applications, b.application)
    return constructor(include_top=False, pooling="avg", input_shape=(size, size, 3),
                       weights=None if weights == NONE else weights, **dict(b.options))


def preprocessing_layer(name: str, x: Any) -> Any:
    """``x`` (RGB 0..255) as the backbone expects it; most applications do this inside.

    ResNet50's caffe preprocessing (BGR order, ImageNet means subtracted) is a fixed,
    untrainable Dense layer on the channels, so a saved model needs no custom code.
    """
    if name != "ResNet50":
        return x
    import numpy as np
    from keras import layers

    layer = layers.Dense(3, trainable=False, name="resnet50_preprocess")
    out = layer(x)
    layer.set_weights([np.eye(3, dtype="float32")[::-1].T.copy(),
                       -np.array(_CAFFE_MEAN_BGR, dtype="float32")])
    return out


def set_trainable_top(backbone: Any, top: int) -> None:
    """Freeze the backbone but its last ``top`` layers (0: all frozen).

    Batch normalization layers stay frozen (the Keras fine-tuning guide's advice: their
    statistics come from ImageNet, and a few small batches would overwrite them).
    """
    backbone.trainable = top > 0
    if top <= 0:
        return
    cut = max(0, len(backbone.layers) - top)
    for i, layer in enumerate(backbone.layers):
        batch_norm = type(layer).__name__ == "BatchNormalization"
        layer.trainable = i >= cut and not batch_norm
