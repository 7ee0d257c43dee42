"""Shared fixtures: small generated image folders and an isolated workspace; the training guard
(a test that trains a model without ``@pytest.mark.training`` fails, ``tests/guard/``)."""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest
from PIL import Image

from tests.disks import small_disk as small_disk
from tests.guard import keras_guard

GUARD_DIR = Path(__file__).resolve().parent / "guard"
# every Python a test starts loads the guard too (tests/guard/sitecustomize.py)
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(GUARD_DIR), os.environ.get("PYTHONPATH")]))
keras_guard.install()
_RECORDS = Path(tempfile.mkdtemp(prefix="training-guard-"))
_NUMBERS = itertools.count()


# what decides how the app runs here and in every server a test starts: a test that left one
# set (lab mode, once) changed the tests after it in its process (make test runs two)
KEPT_ENV = ("TUNING_LAB_MODE", "TUNING_WORKSPACE", "TUNING_SLOT_DIR")
_ENV_BEFORE = pytest.StashKey[dict[str, str | None]]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of the test (a session fixture that trains included): training is
    allowed for a test marked ``training`` only; any other gets a record file of its own."""
    item.stash[_ENV_BEFORE] = {name: os.environ.get(name) for name in KEPT_ENV}
    if item.get_closest_marker("training"):
        os.environ.pop(keras_guard.ENV, None)
    else:
        os.environ[keras_guard.ENV] = str(_RECORDS / f"{next(_NUMBERS)}.txt")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Fail a test without the mark that trained, here or in a process it started."""
    record = os.environ.pop(keras_guard.ENV, None)
    if record and Path(record).is_file():
        lines = Path(record).read_text().splitlines()
        pytest.fail(f"{item.nodeid} trains a Keras model ({len(lines)} x {lines[0]}) but is "
                    "not marked @pytest.mark.training: mark it, so `make test-fast` never "
                    "trains", pytrace=False)


def write_image_folder(
    root: Path,
    classes: dict[str, int] | None = None,
    size: int = 16,
    mode: str = "RGB",
    seed: int = 0,
) -> Path:
    """Write a class-per-subfolder PNG dataset whose classes are easy to tell apart.

    Class k is an image of mean brightness rising with k plus noise, so a tiny CNN
    learns it in an epoch or two.
    """
    classes = classes or {"cats": 12, "dogs": 12}
    rng = np.random.default_rng(seed)
    for k, (name, count) in enumerate(sorted(classes.items())):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        base = 40 + 160 * k / max(1, len(classes) - 1)
        for i in range(count):
            channels = 3 if mode == "RGB" else 1
            pixels = np.clip(rng.normal(base, 20, (size, size, channels)), 0, 255).astype(np.uint8)
            if mode != "RGB":
                pixels = pixels[..., 0]
            Image.fromarray(pixels, mode=mode).save(folder / f"{name}_{i:03d}.png")
    return root


@pytest.fixture(autouse=True)
def machine_slot_dir(tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> Path:
    """A training-slot folder of the test's own, so a dashboard running here cannot block it."""
    path = tmp_path_factory.mktemp("slot")
    monkeypatch.setenv("TUNING_SLOT_DIR", str(path))
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Two classes of 12 RGB 16x16 PNGs each."""
    return write_image_folder(tmp_path / "images")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace folder, set as TUNING_WORKSPACE for the test."""
    path = tmp_path / "workspace"
    path.mkdir()
    monkeypatch.setenv("TUNING_WORKSPACE", str(path))
    return path


def augmented_space():
    """The small preset with flip, rotation and zoom inside the model and dropout after
    them: the case whose plain Keras exports go wrong (issue 18). Batches of 8 and no batch
    norm, so a few epochs on a few dozen images learn (issue 26: with batch norm its moving
    statistics still lag after them, and the model sat at chance on its test split)."""
    from dataclasses import replace

    from tuning_core.space.presets import get_preset
    from tuning_core.space.schema import DropoutRange, Toggle

    space = get_preset("small")
    space.conv = [replace(block, batch_norm=Toggle.OFF, dropout=DropoutRange(0.2, 0.2))
                  for block in space.conv]
    space.training = replace(space.training, flip=Toggle.ON, rotation=Toggle.ON,
                             zoom=Toggle.ON, batch_sizes=[8])
    return space


@pytest.fixture(scope="session")
def augmented_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished, retrained run of 3 classes x 30 RGB 32x32 images with augmentation in
    the model (2 random trials of 3 epochs, a 20-epoch retrain) whose model learns: well
    above chance on its 12 test images (asserted here, so every check that compares an
    export with it compares real decisions). Shared: treat as read-only (copy it to change
    its best model)."""
    from tuning_core.data.dataset import ImageConfig
    from tuning_core.jobs.registry import JobRegistry
    from tuning_core.model.best import retrain_best
    from tuning_core.runs.schema import RunConfig, TunerSettings

    root = tmp_path_factory.mktemp("augmented")
    data = write_image_folder(root / "images", {"a": 30, "b": 30, "c": 30}, size=32)
    config = RunConfig(data_dir=str(data), space=augmented_space(), name="augmented",
                       image=ImageConfig(32, "rgb"),
                       tuner=TunerSettings(tuner="random", max_trials=2, epochs=3, patience=0))
    with pytest.MonkeyPatch.context() as patch:  # machine_slot_dir is per test
        patch.setenv("TUNING_SLOT_DIR", str(root / "slot"))
        registry = JobRegistry(root / "runs")
        run_dir = registry.start_search(config)
        assert registry.wait(timeout=300)
        retrain_best(run_dir, epochs=20)
    evaluation = json.loads((run_dir / "best" / "evaluation.json").read_text())
    assert evaluation["test_accuracy"] >= 0.8, f"the shared model does not learn: {evaluation}"
    return run_dir


class _EnvironmentKept:
    """After a test's fixtures are undone: fail a test that left ``KEPT_ENV`` changed, and put
    it back, so the tests after it run as they would alone (a plugin of its own: this module
    already has a teardown hook, the training guard's, which runs before the fixtures')."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item):
        result = yield
        before = item.stash.get(_ENV_BEFORE, None)
        if before is not None:
            changed = {k: (v, os.environ.get(k)) for k, v in before.items()
                       if os.environ.get(k) != v}
            for name in changed:
                if before[name] is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = before[name]
            if changed:
                raise AssertionError(f"{item.nodeid} left the environment changed (before, "
                                     f"after): {changed}; set it with monkeypatch")
        return result


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_EnvironmentKept(), "environment-kept")
