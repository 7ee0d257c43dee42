"""CNNHyperModel: compiled models per preset, conditional scopes, layers, fit, a tiny search."""

from __future__ import annotations

from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

from tuning_core.core.errors import SearchSpaceError, SettingsError
from tuning_core.search.hypermodel import OPTIMIZER_FACTORIES, CNNHyperModel
from tuning_core.space.presets import PRESETS, get_preset
from tuning_core.space.schema import ACTIVATIONS, OPTIMIZERS, DropoutRange, IntRange, Toggle

CNN_PRESETS = sorted(n for n in PRESETS if not get_preset(n).backbone.active)  # backbones: below


class FakeData:
    """Stands in for dataset.TrainingData: random images 0..255, one-hot labels."""

    def __init__(self, size: int = 16, channels: int = 3, classes: int = 2, n: int = 8) -> None:
        rng = np.random.default_rng(0)
        self.x = rng.uniform(0, 255, (n, size, size, channels)).astype("float32")
        self.y = np.eye(classes, dtype="float32")[rng.integers(0, classes, n)]
        self.batch_sizes: list[int] = []

    def train(self, batch_size: int) -> tf.data.Dataset:
        self.batch_sizes.append(batch_size)
        return tf.data.Dataset.from_tensor_slices((self.x, self.y)).batch(batch_size)

    def validation(self, batch_size: int) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices((self.x, self.y)).batch(batch_size)


def build(space, size: int = 16, channels: int = 3, classes: int = 3, **fixed: object):
    """Build with ``fixed`` hyperparameter values set first (the rest take defaults)."""
    hp = keras_tuner.HyperParameters()
    for name, value in fixed.items():
        hp.Fixed(name, value)
    model = CNNHyperModel(space, size, channels, classes).build(hp)
    return model, hp


def layer_types(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("name", CNN_PRESETS)
@pytest.mark.parametrize("size, channels", [(16, 1), (16, 3), (32, 1), (32, 3)])
def test_every_preset_builds_a_compiled_model(name: str, size: int, channels: int) -> None:
    model, _ = build(get_preset(name), size, channels, classes=5)
    assert model.input_shape == (None, size, size, channels)
    assert model.output_shape == (None, 5)
    assert model.optimizer is not None  # cross-entropy, smoothed in the default preset
    assert getattr(model.loss, "name", model.loss) == "categorical_crossentropy"


@pytest.mark.parametrize("name", CNN_PRESETS)
def test_the_deepest_model_of_each_preset_builds_at_16_pixels(name: str) -> None:
    space = get_preset(name)
    fixed = {"conv_blocks": space.conv_blocks.max, "dense_blocks": space.dense_blocks.max}
    model, hp = build(space, **fixed)
    assert hp.get("conv_blocks") == space.conv_blocks.max
    assert layer_types(model).count("Conv2D") == space.conv_blocks.max
    assert model.output_shape == (None, 3)


def test_blocks_beyond_the_chosen_count_are_inactive() -> None:
    model, hp = build(get_preset("small"), conv_blocks=1, dense_blocks=0)
    assert hp.is_active("conv_0_filters")
    assert not hp.is_active("conv_1_filters") and not hp.is_active("conv_1_pooling")
    assert not hp.is_active("dense_0_units")
    assert "conv_1_filters" not in hp.values
    assert layer_types(model).count("Conv2D") == 1
    _, hp = build(get_preset("small"), conv_blocks=2, dense_blocks=1)
    assert hp.is_active("conv_1_filters") and hp.is_active("dense_0_units")


def test_hyperparameter_names_kinds_and_values() -> None:
    _, hp = build(get_preset("tutorial"))
    kinds = {h.name: type(h).__name__ for h in hp.space}
    assert kinds["conv_blocks"] == "Int" and kinds["dense_blocks"] == "Fixed"
    assert kinds["conv_0_pooling"] == "Fixed" and kinds["optimizer"] == "Fixed"
    assert kinds["conv_0_batch_norm"] == "Boolean" and kinds["augment_flip"] == "Fixed"
    assert kinds["learning_rate"] == "Float" and kinds["batch_size"] == "Fixed"
    [rate] = [h for h in hp.space if h.name == "learning_rate"]
    assert (rate.min_value, rate.max_value, rate.sampling) == (1e-4, 1e-2, "log")
    [dropout] = [h for h in hp.space if h.name == "conv_2_dropout"]
    assert list(dropout.values) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    expected = {f"conv_{i}_{k}" for i in range(3) for k in
                ("filters", "kernel_size", "activation", "batch_norm", "dropout", "pooling")}
    expected |= {f"dense_0_{k}" for k in ("units", "activation", "dropout")}
    expected |= {"conv_blocks", "dense_blocks", "optimizer", "learning_rate", "batch_size",
                 "augment_flip", "augment_rotation", "augment_zoom"}
    assert set(kinds) == expected


def test_layers_follow_the_chosen_values() -> None:
    space = get_preset("large")
    model, _ = build(
        space, size=32, conv_blocks=2, conv_0_batch_norm=True, conv_0_pooling="average",
        conv_0_dropout=0.2, conv_1_batch_norm=False, conv_1_filters=256, augment_flip=True,
        augment_zoom=True,
        dense_blocks=1, dense_0_dropout=0.0,
    )
    types = layer_types(model)
    assert types[:4] == ["InputLayer", "RandomFlip", "RandomZoom", "Rescaling"]
    assert types.count("BatchNormalization") == 1 and "RandomRotation" not in types
    assert types.count("AveragePooling2D") == 1 and types.count("Dropout") == 1
    assert "GlobalAveragePooling2D" in types  # 32 -> 16 -> 8: 8x8x256 values, above 8,192


def test_pooling_stops_at_2x2_and_a_small_map_is_flattened() -> None:
    space = get_preset("large")  # 4 blocks at 16 px: 16 -> 8 -> 4 -> 2, the 4th pool is skipped
    pools = {f"conv_{i}_pooling": "max" for i in range(4)}
    model, _ = build(space, size=16, conv_blocks=4, **pools)
    types = layer_types(model)
    assert types.count("MaxPooling2D") == 3 and "Flatten" in types
    assert model.get_layer("conv_3").output.shape[1:3] == (2, 2)


def test_optimizer_is_built_from_the_name_and_the_sampled_rate() -> None:
    model, _ = build(get_preset("large"), optimizer="sgd", learning_rate=0.003)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.optimizer.momentum == 0.9
    assert float(model.optimizer.learning_rate) == pytest.approx(0.003)
    assert set(OPTIMIZER_FACTORIES) == set(OPTIMIZERS)


def test_every_activation_name_is_known_to_keras() -> None:
    for name in ACTIVATIONS:
        keras.activations.get(name)


def test_the_constructor_rejects_bad_spaces_and_shapes() -> None:
    space = get_preset("small")
    space.conv[0].dropout = DropoutRange(0.5, 0.1)
    with pytest.raises(SearchSpaceError, match=r"conv\[0\].dropout"):
        CNNHyperModel(space, 16, 3, 2)
    with pytest.raises(SettingsError, match="channels=2"):
        CNNHyperModel(get_preset("small"), 16, 2, 2)
    with pytest.raises(SettingsError, match="num_classes=1"):
        CNNHyperModel(get_preset("small"), 16, 3, 1)


def test_fit_takes_only_the_data_positionally() -> None:
    hypermodel = CNNHyperModel(get_preset("small"), 16, 3, 2)
    with pytest.raises(TypeError, match="keywords only"):
        hypermodel.fit(keras_tuner.HyperParameters(), None, FakeData(), 3)


@pytest.mark.training
def test_fit_trains_with_the_chosen_batch_size_and_returns_the_history() -> None:
    space = get_preset("small")
    space.training.batch_sizes = [4]
    hypermodel = CNNHyperModel(space, 16, 3, 2)
    hp = keras_tuner.HyperParameters()
    data = FakeData()
    history = hypermodel.fit(hp, hypermodel.build(hp), data, epochs=1, verbose=0)
    assert data.batch_sizes == [4]
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}


@pytest.mark.training
def test_a_tiny_random_search_completes_two_trials(tmp_path: Path) -> None:
    space = get_preset("small")
    space.conv_blocks = IntRange(1, 2)
    space.conv[0].batch_norm = Toggle.TUNED
    hypermodel = CNNHyperModel(space, 16, 3, 2)
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=2, directory=tmp_path,
        overwrite=True, seed=0,
    )
    tuner.search(FakeData(), epochs=1, verbose=0)
    trials = tuner.oracle.trials.values()
    assert len(trials) == 2
    assert all(t.status == "COMPLETED" and t.score is not None for t in trials)


@pytest.mark.training
def test_label_smoothing_and_class_weights_are_hyperparameters_only_when_used() -> None:
    import dataclasses

    from tuning_core.search.hypermodel import fit_options
    from tuning_core.space.schema import Toggle

    small = get_preset("small")
    plain = dataclasses.replace(small, training=dataclasses.replace(small.training,
                                                                    label_smoothing=[0.0]))
    _, hp = build(plain)
    assert "label_smoothing" not in hp.values and "class_weights" not in hp.values
    messy = dataclasses.replace(plain, training=dataclasses.replace(
        plain.training, label_smoothing=[0.0, 0.1], class_weights=Toggle.TUNED))
    model, hp = build(messy, label_smoothing=0.1, class_weights=True)
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)

    class Counted:
        def class_weights(self):
            return {0: 0.5, 1: 2.0}

    assert fit_options(hp, Counted()) == {"class_weight": {0: 0.5, 1: 2.0}}
    _, hp = build(messy, label_smoothing=0.0, class_weights=False)
    assert fit_options(hp, Counted()) == {}
    data = FakeData(classes=2)  # and Keras takes them with our one-hot batches
    data.class_weights = lambda: {0: 3.0, 1: 0.6}
    model, hp = build(messy, classes=2, label_smoothing=0.1, class_weights=True)
    history = CNNHyperModel(messy, 16, 3, 2).fit(hp, model, data, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.training
def test_balanced_class_weights_follow_the_training_counts() -> None:
    from types import SimpleNamespace

    from tuning_core.data.pipeline import TrainingData

    cache = SimpleNamespace(_items=[("a.png", 0)] * 6 + [("b.png", 1)] * 2, _num_classes=3)
    weights = TrainingData(cache, cache).class_weights()
    assert weights == {0: pytest.approx(8 / 18), 1: pytest.approx(8 / 6), 2: 1.0}
