"""Pretrained backbones: the registry against Keras' loader, weights status, the engine's
refusal, tiny fits with weights=None, a saved model reloading, and weights="imagenet"
loading a weights file made here from a temporary Keras cache with the network blocked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest

from tests.search.test_hypermodel import FakeData
from tuning_core.core.errors import SettingsError
from tuning_core.data.dataset import ImageConfig
from tuning_core.runs.schema import RunConfig
from tuning_core.search.hypermodel import CNNHyperModel
from tuning_core.space import backbones
from tuning_core.space.backbones import BACKBONES, check_weights, keras_models_dir, weights_status
from tuning_core.space.presets import get_preset

ROOT = Path(__file__).resolve().parents[2]
MODULES = {"MobileNetV3Small": "mobilenet_v3", "MobileNetV3Large": "mobilenet_v3",
           "EfficientNetB0": "efficientnet", "EfficientNetV2B0": "efficientnet_v2",
           "ResNet50": "resnet"}


class _Asked(Exception):
    """Raised by the stand-in for Keras' get_file: what the loader asked for."""


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_the_registry_names_the_file_keras_loader_asks_for(name: str, monkeypatch) -> None:
    from keras.src.utils import file_utils

    def ask(fname, origin, cache_subdir, file_hash, **_):
        raise _Asked(fname, origin, cache_subdir, file_hash)

    monkeypatch.setattr(file_utils, "get_file", ask)
    with pytest.raises(_Asked) as info:
        backbones.build_backbone(name, 32, "imagenet")
    b = BACKBONES[name]
    assert info.value.args == (b.file, b.url, "models", b.file_hash)


def test_the_cache_folder_is_keras_own(monkeypatch, tmp_path: Path) -> None:
    from keras.src.backend import config

    if "KERAS_HOME" not in os.environ:
        assert keras_models_dir() == Path(config.keras_home()) / "models"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert keras_models_dir() == tmp_path / "models"


def test_missing_or_damaged_weights_are_reported_with_file_folder_and_url(
        monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    status = weights_status("MobileNetV3Small")
    b = BACKBONES["MobileNetV3Small"]
    assert (status.available, status.file, status.folder, status.url, status.reason) == (
        False, b.file, tmp_path / "models", b.url, "missing")
    text = status.describe()
    assert all(part in text for part in (b.file, str(tmp_path / "models"), b.url,
                                         "or choose weights: none"))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / b.file).write_bytes(b"half a download")
    assert weights_status("MobileNetV3Small").reason == "checksum differs"
    check_weights(["MobileNetV3Small"], "none")  # weights none: nothing to check
    with pytest.raises(SettingsError, match="checksum differs"):
        check_weights(["MobileNetV3Small"], "imagenet")
    with pytest.raises(SettingsError, match="unknown backbone 'VGG16'"):
        weights_status("VGG16")


def test_the_engine_refuses_a_search_whose_weights_are_missing(monkeypatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    config = RunConfig(data_dir=str(tmp_path), space=get_preset("pretrained"),
                       image=ImageConfig(32, "rgb"))
    for start in (config.validate, lambda: CNNHyperModel(config.space, 32, 3, 2)):
        with pytest.raises(SettingsError) as info:
            start()
        message = str(info.value)
        assert BACKBONES["MobileNetV3Small"].file in message
        assert str(tmp_path / "models") in message and "or choose weights: none" in message
    config.space.backbone.weights = "none"
    config.validate()
    config.image = ImageConfig(16, "rgb")
    with pytest.raises(Exception, match="at least 32x32 pixels; the image size is 16"):
        config.validate()


def no_network(monkeypatch) -> None:
    """Keras' loader fails as it does on a machine without network."""
    from urllib.error import URLError

    from keras.src.utils import file_utils

    def refuse(*args: object, **kwargs: object) -> None:
        raise URLError("no network in this test")

    monkeypatch.setattr(file_utils, "urlretrieve", refuse)


def test_a_failed_download_names_the_manual_steps(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    no_network(monkeypatch)
    with pytest.raises(SettingsError) as info:
        check_weights(["none", "EfficientNetB0"], "imagenet", download=True)
    message = str(info.value)
    assert message.startswith("EfficientNetB0: the ImageNet weights could not be downloaded")
    assert "no network in this test" in message and BACKBONES["EfficientNetB0"].url in message
    assert str(tmp_path / "models") in message and "or choose weights: none" in message
    assert (tmp_path / "models").is_dir()  # Keras' loader was pointed at the folder we check


def test_the_cli_refuses_before_any_training(monkeypatch, tmp_path: Path, image_folder: Path,
                                             capsys) -> None:
    from tuning_core.cli import main

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    no_network(monkeypatch)
    code = main.main(["search", "--data", str(image_folder), "--runs-dir", str(tmp_path / "runs"),
                     "--preset", "pretrained", "--image-size", "32"])
    err = capsys.readouterr().err
    assert code == 2 and "could not be downloaded" in err
    assert BACKBONES["MobileNetV3Small"].file in err and "or choose weights: none" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_resnet50_preprocessing_layer_matches_keras_preprocess_input() -> None:
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, backbones.preprocessing_layer("ResNet50", inputs))
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    expected = keras.applications.resnet50.preprocess_input(x.copy())
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-3)
    assert not model.trainable_weights


def _backbone_space(choices: list[str], top: list[int]):
    space = get_preset("pretrained")
    space.backbone.choices, space.backbone.weights = choices, "none"
    space.backbone.trainable_top = top
    space.training.batch_sizes = [4]
    return space


def _fit(space, channels: int, **fixed: object):
    hp = keras_tuner.HyperParameters()
    for name, value in fixed.items():
        hp.Fixed(name, value)
    hypermodel = CNNHyperModel(space, 32, channels, 3)
    model = hypermodel.build(hp)
    data = FakeData(size=32, channels=channels, classes=3, n=4)
    history = hypermodel.fit(hp, model, data, epochs=1, verbose=0)
    return model, hp, data, history


@pytest.mark.training
@pytest.mark.parametrize("channels, top", [(1, 0), (3, 20)])
def test_mobilenet_builds_and_fits_a_step(channels: int, top: int, tmp_path: Path) -> None:
    space = _backbone_space(["none", "MobileNetV3Small"], [0, 20])
    model, hp, data, history = _fit(space, channels, backbone="MobileNetV3Small",
                                    backbone_trainable_top=top, dense_blocks=0)
    assert np.isfinite(history.history["loss"][0])
    assert hp.get("fine_tune_learning_rate") == pytest.approx(float(model.optimizer.learning_rate))
    assert ("gray_to_rgb" in [layer.name for layer in model.layers]) == (channels == 1)
    backbone = model.get_layer("MobileNetV3Small")
    trainable = [layer for layer in backbone.layers if layer.trainable_weights]
    assert len(trainable) == 0 if top == 0 else 0 < len(trainable) <= top
    assert not any(type(layer).__name__ == "BatchNormalization" for layer in trainable)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)  # built-in layers only: no custom objects
    np.testing.assert_allclose(reloaded.predict(data.x, verbose=0),
                               model.predict(data.x, verbose=0), atol=1e-5)


@pytest.mark.training
def test_the_none_choice_still_builds_the_conv_blocks() -> None:
    space = _backbone_space(["none", "MobileNetV3Small"], [0])
    model, hp, _, history = _fit(space, 3, backbone="none")
    assert "Conv2D" in [type(layer).__name__ for layer in model.layers]
    assert hp.get("learning_rate") == pytest.approx(float(model.optimizer.learning_rate))
    assert np.isfinite(history.history["loss"][0])


IMAGENET_FROM_CACHE = """
import hashlib, dataclasses, h5py, numpy as np
from keras.src.applications import mobilenet_v3
from keras.src.legacy.saving import legacy_h5_format
from keras.src.utils import file_utils
import keras_tuner
from tuning_core.space import backbones
from tuning_core.search.hypermodel import CNNHyperModel
from tuning_core.space.presets import get_preset

name = "MobileNetV3Small"
source = backbones.build_backbone(name, 32, "none")
folder = backbones.keras_models_dir()
folder.mkdir(parents=True, exist_ok=True)
path = folder / backbones.BACKBONES[name].file
with h5py.File(path, "w") as f:  # the legacy .h5 layout Keras' loader reads
    legacy_h5_format.save_weights_to_hdf5_group(f, source)
md5 = hashlib.md5(path.read_bytes()).hexdigest()
# Keras checks the cached file against ImageNet's hash and downloads on a mismatch; this
# file is ours, so both hash tables learn its hash. Any download attempt fails the test.
key = "small_224_1.0_float"
mobilenet_v3.WEIGHTS_HASHES[key] = (mobilenet_v3.WEIGHTS_HASHES[key][0], md5)
backbones.BACKBONES[name] = dataclasses.replace(backbones.BACKBONES[name], file_hash=md5)
def no_network(*args, **kwargs):
    raise AssertionError("tried to download " + str(args[:1]))
file_utils.urlretrieve = no_network
assert backbones.weights_status(name).available

space = get_preset("pretrained")  # weights="imagenet"
model = CNNHyperModel(space, 32, 1, 3).build(keras_tuner.HyperParameters())
loaded = model.get_layer(name).get_weights()
expected = source.get_weights()
assert len(loaded) == len(expected) > 0
assert all(np.array_equal(a, b) for a, b in zip(loaded, expected))
fresh = backbones.build_backbone(name, 32, "none").get_weights()
assert not all(np.array_equal(a, b) for a, b in zip(fresh, expected))
print("loaded", len(loaded), "arrays from", path.name)
"""


@pytest.mark.training
def test_imagenet_weights_load_from_the_keras_cache_without_network(tmp_path: Path) -> None:
    # KERAS_HOME is read when Keras is imported, hence a process of its own.
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras")}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(IMAGENET_FROM_CACHE)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"from {BACKBONES['MobileNetV3Small'].file}" in done.stdout
