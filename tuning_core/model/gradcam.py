"""Grad-CAM: which part of an image made the model choose a class (Selvaraju et al., 2017).

The gradient of the class's probability with respect to a late feature map, averaged over
the map's positions, weighs its channels; their weighted sum, clipped at zero and scaled to
0..1, is the heatmap, resized to the image.

The feature map is the last spatial one: the last convolutional block's for a conv-block
model, and inside the backbone for a backbone model. keras.io's recipe builds a sub-model
from the input to that layer's output, which fails when the layer sits inside a nested
model (a backbone is one layer of ours); here the graph is run layer by layer (nested
models too) inside one GradientTape, which watches the chosen layer's output on the way.
All layers run with ``training=False`` (augmentation off, batch norm in inference).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuning_core.core.errors import RunError

_SKIPPED = ("Pooling", "Dropout", "Random", "Rescaling", "InputLayer", "Concatenate",
            "Flatten", "Reshape")  # not where a model's spatial evidence is read


@dataclass(frozen=True)
class Target:
    """The feature-map layer and the nested models that lead to it (outermost first)."""

    path: tuple[Any, ...]
    layer: Any

    @property
    def name(self) -> str:
        return "/".join([m.name for m in self.path] + [self.layer.name])


def find_target(model: Any) -> Target:
    """The last layer with a spatial output (height and width above 1), looked for inside a
    nested model first; RunError when the model has none (a dense-only model)."""
    found = _last_spatial(model, ())
    if found is None:
        raise RunError(f"model {model.name} has no layer with a spatial output: Grad-CAM "
                       "needs a convolutional model or a backbone.")
    return found


def _last_spatial(model: Any, path: tuple[Any, ...]) -> Target | None:
    for layer in reversed(model.layers):
        if hasattr(layer, "layers") and layer.layers:
            inner = _last_spatial(layer, (*path, layer))
            if inner is not None:
                return inner
        elif _is_spatial(layer) and not any(s in type(layer).__name__ for s in _SKIPPED):
            return Target(path, layer)
    return None


def _is_spatial(layer: Any) -> bool:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return False
    return len(shape) == 4 and (shape[1] or 0) > 1 and (shape[2] or 0) > 1


def heatmaps(model: Any, images: np.ndarray, classes: np.ndarray | None = None,
             target: Target | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM maps (n, height, width, in 0..1, at the images' size) for ``classes`` (the
    predicted class of each image when None), and the model's probabilities (n, classes)."""
    import tensorflow as tf

    target = target or find_target(model)
    x = tf.convert_to_tensor(np.asarray(images, dtype="float32"))
    seen: dict[str, Any] = {}
    with tf.GradientTape() as tape:
        probabilities = _run(model, x, target, 0, tape, seen)
        chosen = np.asarray(classes) if classes is not None else \
            np.asarray(probabilities).argmax(axis=1)
        scores = tf.gather(probabilities, chosen[:, None], axis=1, batch_dims=1)
    features = seen["features"]
    gradients = tape.gradient(scores, features)
    weights = tf.reduce_mean(gradients, axis=(1, 2))
    cams = tf.nn.relu(tf.einsum("bhwc,bc->bhw", tf.cast(features, "float32"),
                                tf.cast(weights, "float32"))).numpy()
    return _resized(cams, images.shape[1:3]), np.asarray(probabilities)


def _run(model: Any, x: Any, target: Target, depth: int, tape: Any, seen: dict) -> Any:
    """Run ``model``'s graph node by node; watch the target's output; descend into the
    nested model on the target's path."""
    from keras.layers import Layer

    def operation(op: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if depth < len(target.path) and op is target.path[depth]:
                return _run(op, args[0], target, depth + 1, tape, seen)
            if isinstance(op, Layer):  # a bare operation (an op's Add) takes no training
                kwargs["training"] = False
            out = op(*args, **kwargs)
            if op is target.layer:
                tape.watch(out)
                seen["features"] = out
            return out
        return call
    return model._run_through_graph(x, operation_fn=operation)


def _resized(cams: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    out = []
    for cam in cams:
        top = float(cam.max())
        cam = cam / top if top > 0 else cam
        image = Image.fromarray(cam.astype("float32"), mode="F").resize(
            (int(size[1]), int(size[0])), Image.Resampling.BILINEAR)
        out.append(np.clip(np.asarray(image), 0.0, 1.0))
    return np.stack(out) if out else np.zeros((0, *size))


def overlay_png(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> bytes:
    """The image (0..255, 1 or 3 channels) with the heatmap over it in colour, as PNG."""
    from PIL import Image

    rgb = np.asarray(image, dtype="float32")
    if rgb.ndim == 2:
        rgb = rgb[..., None]
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    mixed = (1 - alpha) * rgb + alpha * 255.0 * colormap(heatmap)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(mixed, 0, 255).astype("uint8")).save(buffer, format="PNG")
    return buffer.getvalue()


def colormap(values: np.ndarray) -> np.ndarray:
    """0..1 to RGB in 0..1 (blue, cyan, yellow, red: a 'jet'-like map)."""
    v = np.clip(np.asarray(values, dtype="float32"), 0, 1)[..., None]
    stops = np.array([[0.0, 0.0, 0.5], [0.0, 0.6, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]],
                     dtype="float32")
    position = v * (len(stops) - 1)
    low = np.clip(np.floor(position).astype(int), 0, len(stops) - 2)
    frac = position - low
    return stops[low[..., 0]] * (1 - frac) + stops[low[..., 0] + 1] * frac
