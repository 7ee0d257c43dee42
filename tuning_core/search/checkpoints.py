"""Trial checkpoints that a full disk cannot turn into a crash or a torn file.

KerasTuner's ``SaveBestEpoch`` has h5py write ``checkpoint.weights.h5`` in place. On a full
disk h5py fails mid-file, and the handle it leaves fails again when it is closed, which
kills the process with a segfault (issue 27). Here the weights are written to memory first,
the free space is measured against their exact size, and the file is put in place by the
one atomic write: a checkpoint is whole or absent, and a full disk is a
:class:`~tuning_core.core.errors.DiskFullError` that ends the trial (and the search) cleanly.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import keras

from tuning_core.core import atomic, diskspace
from tuning_core.core.states import Direction


def weights_bytes(model: Any) -> bytes:
    """The model's weights as the bytes of a ``.weights.h5`` file, made in memory."""
    from keras.src.saving import saving_lib

    buffer = io.BytesIO()
    store = saving_lib.H5IOStore(buffer, mode="w")
    try:
        saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="",
                               visited_saveables=set())
    finally:
        store.close()
    return buffer.getvalue()


def save_weights(model: Any, path: str | Path, what: str) -> None:
    """Write ``model``'s weights to ``path`` whole or not at all; DiskFullError when the
    disk cannot hold them (with room kept for the log lines that say so)."""
    data = weights_bytes(model)
    diskspace.ensure_free(path, len(data), what)
    try:
        atomic.write_bytes(path, data, mode=0o644)
    except OSError as error:
        if diskspace.is_disk_full(error):
            raise diskspace.full_error(path, len(data), what) from error
        raise


def patch_save_best_epoch() -> None:
    """Make KerasTuner's checkpoints go through :func:`save_weights` (once per process).

    Only a plain (chief) write is replaced: a multi-worker strategy's temporary files keep
    KerasTuner's own path.
    """
    from keras_tuner.src.backend import io as kt_io
    from keras_tuner.src.engine import tuner_utils

    cls = tuner_utils.SaveBestEpoch
    if getattr(cls._save_model, "_checked", False):
        return
    original = cls._save_model

    def _save_model(self: Any) -> None:
        strategy = getattr(self.model, "distribute_strategy", None)
        if kt_io.write_filepath(self.filepath, strategy) != self.filepath:
            original(self)
            return
        save_weights(self.model, self.filepath, "this trial's checkpoint")

    _save_model._checked = True  # type: ignore[attr-defined]
    cls._save_model = _save_model


class BestWeights(keras.callbacks.Callback):
    """Keras' ``ModelCheckpoint(save_best_only=True, save_weights_only=True)`` for a retrain,
    written through :func:`save_weights`, so a full disk fails it cleanly as it does a trial."""

    def __init__(self, path: str | Path, monitor: str, mode: str) -> None:
        super().__init__()
        self.path, self.monitor, self.direction = str(path), monitor, Direction.of(mode)
        self.best: float | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        if self.best is None or self.direction.better(float(value), self.best):
            self.best = float(value)
            save_weights(self.model, self.path, "the retrain's checkpoint")
