"""The inference copy of a model: the same layer objects and weights, augmentation left out.

Random augmentation layers inside a model stay in training mode in a SavedModel's
``serve()`` (and take the batch normalization and dropout after them along), and make
tf2onnx emit random ops ONNX Runtime cannot load (keras#21346, tensorflow-onnx#2395).
They do nothing at inference, so the exported model is the functional graph rebuilt
without them. The other layers are the original objects themselves, not clones: a
``clone_model`` + ``set_weights`` copy misaligns, because augmentation layers hold seed
variables that shift every weight after them by one.
"""

from __future__ import annotations

from typing import Any

from tuning_core.core.errors import ExportError

__all__ = ["inference_copy", "is_training_only"]

# Layers that only perturb inputs while training and pass them through at inference.
_NOISE = frozenset({"GaussianNoise", "GaussianDropout", "AlphaDropout"})


def is_training_only(layer: Any) -> bool:
    """True for a random augmentation or noise layer (an identity at inference)."""
    name = type(layer).__name__
    return name.startswith("Random") or name in _NOISE


def inference_copy(model: Any) -> Any:
    """A functional model computing ``model``'s inference outputs without its augmentation.

    Raises ExportError for a model that is not a functional Keras model (a subclassed
    model's graph cannot be rebuilt).
    """
    import keras

    if not isinstance(model, keras.Model) or not hasattr(model, "_run_through_graph") \
            or isinstance(model, keras.Sequential):
        raise ExportError(f"expected a functional Keras model to export; got "
                          f"{type(model).__name__}.")
    copy = keras.models.clone_model(model, clone_function=_same, call_function=_call)
    copy.name = model.name
    return copy


def _same(layer: Any) -> Any:
    return layer  # the original object: its weights, not a copy of them


def _call(layer: Any, *args: Any, **kwargs: Any) -> Any:
    if is_training_only(layer):
        return args[0]
    return layer(*args, **kwargs)
