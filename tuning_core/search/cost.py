"""What a trial's model costs to run: parameters, multiply-adds, saved size, CPU latency.

A lab picks the model that fits the microscope PC or the phone, not only the most accurate
one, so every completed trial gets a :class:`TrialCost`, logged as a ``trial_cost`` event.

How each number is got:

* parameters: ``model.count_params()``;
* multiply-adds per image: summed from the layers' shapes (convolutions, depthwise and
  separable convolutions, dense layers, nested backbones included). Deterministic, so it is
  the stable axis on a noisy or busy machine; pooling, batch norm and activations add a few
  percent at most and are not counted;
* saved size: the bytes of the model saved as ``.keras`` (float32 weights and config);
* latency: milliseconds per image at batch 1 on the CPU, through one compiled call
  (``tf.function``), after warm-up calls, the median of ``repeats`` timed calls. Measured in
  the process that runs the search, so with its thread pool (``threads`` says how many:
  TensorFlow fixes it when it starts); the search is paused meanwhile, so nothing else runs.

The search measures a trial right after it ends, on a model rebuilt from the trial's
hyperparameters (the cost does not depend on the weights), so the trained model need not be
kept; bench figure 13 measures what this adds to a search.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tuning_core.core.errors import RunError
from tuning_core.core.states import LogEvent

WARMUP_CALLS = 3
REPEATS = 20
COST_EVENT = LogEvent.TRIAL_COST


@dataclass(frozen=True)
class TrialCost:
    """The cost of one trial's model (see the module docstring for how each is measured)."""

    params: int
    macs: int  # multiply-adds per image
    model_bytes: int  # the saved .keras file
    latency_ms: float  # CPU, batch 1, median
    threads: int  # the CPU threads TensorFlow ran the latency calls with
    measure_s: float = 0.0  # what measuring took, build included

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialCost:
        """A cost from its dict; RunError naming the missing field."""
        try:
            return cls(params=int(data["params"]), macs=int(data["macs"]),
                       model_bytes=int(data["model_bytes"]),
                       latency_ms=float(data["latency_ms"]), threads=int(data["threads"]),
                       measure_s=float(data.get("measure_s") or 0.0))
        except (KeyError, TypeError, ValueError) as error:
            raise RunError(f"expected a trial cost with params, macs, model_bytes, "
                           f"latency_ms and threads; got {data!r}.") from error


def measure(model: Any, repeats: int = REPEATS, started: float | None = None) -> TrialCost:
    """The cost of a built Keras model (its weights need not be trained); ``started``: the
    ``perf_counter`` time its build began, so that ``measure_s`` counts the build too."""
    started = time.perf_counter() if started is None else started
    latency = latency_ms(model, repeats)
    return TrialCost(params=int(model.count_params()), macs=multiply_adds(model),
                     model_bytes=saved_bytes(model), latency_ms=round(latency, 4),
                     threads=cpu_threads(), measure_s=round(time.perf_counter() - started, 4))


def latency_ms(model: Any, repeats: int = REPEATS) -> float:
    """Median milliseconds of one compiled call on one image (after warm-up calls)."""
    import numpy as np
    import tensorflow as tf

    shape = [1] + [int(d) for d in model.inputs[0].shape[1:]]
    image = tf.constant(np.random.default_rng(0).uniform(0, 255, shape).astype("float32"))
    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    with tf.device("/CPU:0"):
        for _ in range(WARMUP_CALLS):
            call(image).numpy()
        times = []
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            call(image).numpy()
            times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def saved_bytes(model: Any) -> int:
    """The size of the model saved as a .keras file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return path.stat().st_size


def cpu_threads() -> int:
    """How many threads TensorFlow runs one op with here (its setting, else the cores)."""
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or (os.cpu_count() or 1)


def multiply_adds(model: Any) -> int:
    """Multiply-adds per image of the convolutions and dense layers, nested models included."""
    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:  # a nested model (a backbone)
            total += multiply_adds(layer)
        else:
            total += _layer_macs(layer)
    return total


def _layer_macs(layer: Any) -> int:
    from keras import layers as kl

    try:
        out_shape = layer.output.shape
        in_shape = layer.input.shape
    except (AttributeError, ValueError):  # a layer never called, or shared with several inputs
        return 0
    positions = _prod(out_shape[1:-1])
    if isinstance(layer, kl.SeparableConv2D):
        k, cin = _prod(layer.kernel_size), int(in_shape[-1])
        depth = positions * k * cin * layer.depth_multiplier
        return depth + positions * cin * layer.depth_multiplier * int(out_shape[-1])
    if isinstance(layer, kl.DepthwiseConv2D):
        return positions * _prod(layer.kernel_size) * int(in_shape[-1]) * layer.depth_multiplier
    if isinstance(layer, (kl.Conv1D, kl.Conv2D, kl.Conv3D)):
        cin = int(in_shape[-1]) // max(1, getattr(layer, "groups", 1))
        return positions * _prod(layer.kernel_size) * cin * int(out_shape[-1])
    if isinstance(layer, kl.Dense):
        return positions * int(in_shape[-1]) * int(out_shape[-1])
    return 0


def _prod(values: Any) -> int:
    result = 1
    for v in values:
        result *= int(v)
    return result


def measure_trial(run_dir: str | Path, trial_id: str, repeats: int = REPEATS) -> TrialCost:
    """Rebuild a trial's model from its hyperparameters and measure it (for runs made before
    costs were logged, or to measure again); RunError when the trial cannot be rebuilt."""
    import keras_tuner as kt

    from tuning_core.runs.rundir import RunDir
    from tuning_core.search.hypermodel import CNNHyperModel

    run = RunDir(run_dir)
    config = run.config()
    record = run.trial_record(trial_id)
    classes = (run.load_split() or {}).get("classes") or []
    if len(classes) < 2:
        raise RunError(f"{run.name} has no file split with two classes or more: its search "
                       "never started, so trial models cannot be rebuilt.")
    hypermodel = CNNHyperModel(config.space, config.image.image_size, config.image.channels,
                               len(classes))
    started = time.perf_counter()
    model = hypermodel.build(kt.HyperParameters.from_config(record["hyperparameters"]))
    return measure(model, repeats, started)
