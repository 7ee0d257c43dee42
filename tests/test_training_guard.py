"""The training guard itself: an unmarked test that trains is caught, here and in a child
process, and a test marked ``training`` trains as before."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.guard import keras_guard

FIT = """
import numpy as np, keras
model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
model.compile("sgd", "mse")
model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=1, verbose=0)
print("trained")
"""


def _tiny_model():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def _take_record() -> list[str]:
    """The guard's lines for this test, removed so that the test itself is not failed."""
    record = Path(os.environ[keras_guard.ENV])
    lines = record.read_text().splitlines() if record.is_file() else []
    record.unlink(missing_ok=True)
    return lines


def test_an_unmarked_test_that_fits_is_refused_and_recorded() -> None:
    model = _tiny_model()
    with pytest.raises(RuntimeError, match=r"not marked @pytest.mark.training"):
        model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=1, verbose=0)
    assert _take_record() == [f"Model.fit in process {os.getpid()}"]


def test_a_process_an_unmarked_test_starts_is_guarded_too() -> None:
    done = subprocess.run([sys.executable, "-c", FIT], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))
    assert done.returncode != 0 and "trained" not in done.stdout
    assert "NotMarkedTraining" in done.stderr
    lines = _take_record()
    assert len(lines) == 1 and lines[0].startswith("Model.fit in process ")


@pytest.mark.training
def test_a_marked_test_trains() -> None:
    assert keras_guard.ENV not in os.environ
    history = _tiny_model().fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1
