"""Keras callbacks used inside trials. Each holds only plain state (KerasTuner deep-copies them)."""

from __future__ import annotations

import math
import time

import keras

from tuning_core.core import control
from tuning_core.core.states import LogEvent
from tuning_core.runs.triallog import TrialLogWriter, clean_metrics


class TrialLogCallback(keras.callbacks.Callback):
    """Writes an ``epoch_end`` line per epoch and ends training when the search must stop.

    The stop check runs at every batch end: a dictionary look-up and a flag test, so it
    costs nothing next to a training step.
    """

    def __init__(self, log_path: str, trial_id: str, execution: int, control_key: str) -> None:
        super().__init__()
        self.log_path = log_path
        self.trial_id = trial_id
        self.execution = execution
        self.control_key = control_key
        self._epoch_started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        search = control.get(self.control_key)
        if search is not None and search.should_end():
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = clean_metrics(logs)
        metrics["learning_rate"] = _learning_rate(self.model)
        TrialLogWriter(self.log_path).write(
            LogEvent.EPOCH_END, trial_id=self.trial_id, execution=self.execution, epoch=epoch,
            seconds=round(time.perf_counter() - self._epoch_started, 4), metrics=metrics,
        )
        if any(v is None for k, v in metrics.items() if k.endswith("loss")):
            self.model.stop_training = True  # diverged: more epochs cannot bring it back


def _learning_rate(model: keras.Model) -> float | None:
    try:
        value = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
