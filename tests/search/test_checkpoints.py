"""Trial checkpoints made in memory, measured, and put in place whole or not at all."""

from __future__ import annotations

import errno
from collections import namedtuple
from pathlib import Path

import keras
import numpy as np
import pytest

from tuning_core.core import atomic, diskspace
from tuning_core.core.errors import DiskFullError
from tuning_core.search import checkpoints

Usage = namedtuple("Usage", "total used free")


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="out")])
    model.compile("adam", "mse")
    return model


def test_a_checkpoint_made_in_memory_loads_as_keras_wrote_it(tmp_path: Path) -> None:
    model, path = _model(), tmp_path / "trial_0" / "checkpoint.weights.h5"
    path.parent.mkdir()
    checkpoints.save_weights(model, path, "this trial's checkpoint")
    other = _model()
    other.load_weights(path)
    for mine, theirs in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_a_checkpoint_the_disk_cannot_hold_is_refused_before_a_byte_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diskspace.shutil, "disk_usage", lambda p: Usage(10**9, 0, 500_000))
    path = tmp_path / "checkpoint.weights.h5"
    with pytest.raises(DiskFullError, match=r"^disk full: 0\.5 MB free on .*checkpoint"):
        checkpoints.save_weights(_model(), path, "this trial's checkpoint")
    assert list(tmp_path.iterdir()) == []


def test_a_disk_that_fills_during_the_write_leaves_the_old_checkpoint_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "checkpoint.weights.h5"
    path.write_bytes(b"the previous best epoch")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)  # fails after the temporary was written
    with pytest.raises(DiskFullError, match=r"^disk full: "):
        checkpoints.save_weights(_model(), path, "this trial's checkpoint")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert path.read_bytes() == b"the previous best epoch"


def test_a_retrain_keeps_the_weights_of_its_best_epoch_only(tmp_path: Path) -> None:
    model, path = _model(), tmp_path / "checkpoint.weights.h5"
    callback = checkpoints.BestWeights(path, "val_loss", "min")
    callback.set_model(model)
    written = []
    for epoch, loss in enumerate([0.9, float("nan"), 0.5, 0.7]):
        path.unlink(missing_ok=True)
        callback.on_epoch_end(epoch, {"val_loss": loss})
        written.append(path.is_file())
    assert written == [True, False, True, False] and callback.best == 0.5
