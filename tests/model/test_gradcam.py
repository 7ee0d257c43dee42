"""Grad-CAM on a conv-block model and a backbone model (weights=None): the layer-by-layer run
gives the model's own outputs, and the map points where the evidence is."""

from __future__ import annotations

import io

import keras
import keras_tuner
import numpy as np
import pytest
from PIL import Image

from tuning_core.core.errors import RunError
from tuning_core.model.gradcam import find_target, heatmaps, overlay_png
from tuning_core.search.hypermodel import CNNHyperModel
from tuning_core.space.presets import get_preset


def built(space, size: int, channels: int, **fixed) -> keras.Model:
    hp = keras_tuner.HyperParameters()
    for name, value in fixed.items():
        hp.Fixed(name, value)
    return CNNHyperModel(space, size, channels, 3).build(hp)


def images(n: int, size: int, channels: int) -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (n, size, size, channels)).astype("float32")


def test_a_conv_model_maps_from_its_last_conv_block_and_agrees_with_predict():
    space = get_preset("small")
    model = built(space, 16, 3, conv_blocks=2, augment_flip=True)  # augmentation stays off
    target = find_target(model)
    assert target.path == () and target.layer.name.startswith("conv_1")
    batch = images(3, 16, 3)
    maps, probabilities = heatmaps(model, batch)
    np.testing.assert_allclose(probabilities, model.predict(batch, verbose=0), atol=1e-5)
    assert maps.shape == (3, 16, 16) and maps.min() >= 0 and maps.max() <= 1


def test_a_backbone_model_maps_from_inside_the_nested_backbone():
    space = get_preset("pretrained")
    space.backbone.choices, space.backbone.weights = ["MobileNetV3Small"], "none"
    space.backbone.trainable_top = [0]
    model = built(space, 32, 1, backbone="MobileNetV3Small", dense_blocks=0)
    target = find_target(model)
    assert [m.name for m in target.path] == ["MobileNetV3Small"]  # keras.io's recipe fails here
    batch = images(2, 32, 1)
    maps, probabilities = heatmaps(model, batch, classes=np.array([0, 2]))
    np.testing.assert_allclose(probabilities, model.predict(batch, verbose=0), atol=1e-4)
    assert maps.shape == (2, 32, 32) and np.isfinite(maps).all()


def test_the_map_is_brightest_where_the_evidence_is():
    """Two feature channels, the image (evidence for class 0) and its negative (evidence
    against): their plain sum is the same everywhere, so only a map that weighs each channel
    by its gradient finds the patch (a map without the weights fails here)."""
    inputs = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(2, 1, name="conv")
    features = conv(inputs)
    flat = keras.layers.Flatten()(features)
    outputs = keras.layers.Dense(2, activation="softmax")(flat)
    model = keras.Model(inputs, outputs)
    conv.set_weights([np.array([1.0, -1.0], "float32").reshape(1, 1, 1, 2),
                      np.array([0.0, 255.0], "float32")])  # x and 255 - x
    toward = np.tile([1e-4, -1e-4], 64)  # flattened (h, w, c): channel 0 for, channel 1 against
    model.layers[-1].set_weights([np.stack([toward, np.zeros(128)], axis=1), np.zeros(2)])
    image = np.zeros((1, 8, 8, 1), "float32")
    image[0, 0:3, 5:8, 0] = 200.0  # a bright patch at the top right (softmax not saturated)
    maps, _ = heatmaps(model, image, classes=np.array([0]))
    row, col = np.unravel_index(maps[0].argmax(), maps[0].shape)
    assert row < 3 and col >= 5
    assert maps[0][5:, :3].max() < 0.1  # nothing at the bottom left
    unweighted = keras.Model(inputs, features)(image).numpy()[0].mean(axis=-1)
    assert np.ptp(unweighted) < 1e-3  # without the gradient weights: flat, no patch found


def test_a_dense_only_model_is_refused_with_a_reason():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(RunError, match="no layer with a spatial output"):
        find_target(model)


def test_the_overlay_is_a_png_of_the_image_size():
    png = overlay_png(np.full((5, 7, 1), 128.0), np.linspace(0, 1, 35).reshape(5, 7))
    picture = Image.open(io.BytesIO(png))
    assert picture.size == (7, 5) and picture.mode == "RGB"
