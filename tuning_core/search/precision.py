"""Mixed precision for a search or a retrain, only where the hardware gains from it.

``mixed_float16`` needs a GPU of compute capability 7.0 or higher (tensor cores); anywhere
else training stays float32, and the search says so once (``search_start``'s
``precision_note``) instead of failing. The policy is Keras' global one: it is set for the
job and put back afterwards, so the process's next job starts from float32 again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from tuning_core.runs.schema import TunerSettings

MIXED = "mixed_float16"
FLOAT32 = "float32"
MIN_CAPABILITY = (7, 0)


@dataclass(frozen=True)
class Precision:
    """The policy a job trains with, and why when it is not what was asked."""

    policy: str = FLOAT32
    note: str | None = None

    def log_fields(self) -> dict[str, str | None]:
        """The ``search_start`` fields."""
        return {"precision": self.policy, "precision_note": self.note}


def capable_gpus() -> list[str]:
    """Visible GPUs of compute capability 7.0 or higher."""
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        except (RuntimeError, ValueError):
            capability = None
        if capability and tuple(capability) >= MIN_CAPABILITY:
            found.append(gpu.name)
    return found


def choose(settings: TunerSettings) -> Precision:
    """float32 unless mixed precision is asked for and a capable GPU is visible."""
    if not settings.mixed_precision:
        return Precision()
    if capable_gpus():
        return Precision(MIXED)
    return Precision(FLOAT32, "mixed precision needs a GPU of compute capability 7.0 or "
                              "higher and none is visible: training in float32")


@contextlib.contextmanager
def training_policy(precision: Precision) -> Iterator[None]:
    """Keras' global dtype policy set to ``precision`` for the block, then restored."""
    if precision.policy == FLOAT32:
        yield  # nothing to change (and no TensorFlow import for a plain job)
        return
    import keras

    saved = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(precision.policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(saved)
