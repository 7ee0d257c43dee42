"""Training leaves nothing behind in TensorFlow's global gradient registry."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tuning_core.search import tfmemory

pytestmark = pytest.mark.training


def _fit_tiny_model() -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x = np.random.rand(16, 4).astype("float32")
    y = keras.utils.to_categorical(np.arange(16) % 2, 2)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)


def test_a_fit_registers_gradients_and_they_are_released() -> None:
    before = tfmemory.gradient_names()
    _fit_tiny_model()
    added = tfmemory.gradient_names() - before
    assert added, "Keras no longer registers custom gradients: tfmemory may be obsolete"
    assert tfmemory.release_gradients(before) == len(added)
    assert tfmemory.gradient_names() == before


def test_released_gradients_context() -> None:
    before = tfmemory.gradient_names()
    with tfmemory.released_gradients():
        _fit_tiny_model()
    assert tfmemory.gradient_names() == before
    _fit_tiny_model()  # training again after a release still works
