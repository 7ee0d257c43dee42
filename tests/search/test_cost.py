"""The cost of a trial's model: counts, multiply-adds by hand, latency, the log's columns."""

from __future__ import annotations

import json

import keras
import pytest

from tuning_core.core.errors import RunError
from tuning_core.runs.triallog import TrialLogReader, TrialLogWriter
from tuning_core.search.cost import COST_EVENT, TrialCost, measure, multiply_adds


def tiny_model() -> keras.Model:
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 8*8 positions * 3*3*3 * 4
    x = keras.layers.DepthwiseConv2D(3, padding="valid")(x)  # 6*6 * 3*3 * 4
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(2)(x)  # 144 * 2
    return keras.Model(inputs, outputs)


def test_multiply_adds_are_counted_from_the_layer_shapes():
    assert multiply_adds(tiny_model()) == 8 * 8 * 27 * 4 + 6 * 6 * 9 * 4 + 144 * 2


def test_a_nested_model_counts_its_inner_layers():
    inner = tiny_model()
    inputs = keras.Input((8, 8, 3))
    outer = keras.Model(inputs, keras.layers.Dense(3)(inner(inputs)))
    assert multiply_adds(outer) == multiply_adds(inner) + 2 * 3


def test_measure_gives_every_number_of_a_tiny_model():
    model = tiny_model()
    cost = measure(model, repeats=5)
    assert cost.params == model.count_params()
    assert cost.macs == multiply_adds(model)
    assert 1_000 < cost.model_bytes < 100_000  # the .keras file: config and 4-byte weights
    assert 0 < cost.latency_ms < 1_000 and cost.threads >= 1
    assert TrialCost.from_dict(json.loads(json.dumps(cost.to_dict()))) == cost


def test_a_cost_record_missing_a_field_is_refused_by_name():
    with pytest.raises(RunError, match="latency_ms"):
        TrialCost.from_dict({"params": 1, "macs": 2, "model_bytes": 3})


def test_the_trial_log_gives_cost_columns_and_old_logs_have_none(tmp_path):
    log = tmp_path / "trials.jsonl"
    writer = TrialLogWriter(log)
    writer.write("trial_start", trial_id="0", number=1, hyperparameters={})
    writer.write("trial_end", trial_id="0", status="completed", score=0.9, seconds=1.0)
    reader = TrialLogReader(log)
    reader.poll()
    assert "latency_ms" not in reader.trials()  # a run from before costs: readable as it was
    writer.write(COST_EVENT, trial_id="0", params=10, macs=20, model_bytes=30,
                 latency_ms=1.5, threads=1)
    writer.write(COST_EVENT, trial_id="9", error="ValueError: cannot build")  # not a row
    reader.poll()
    row = reader.trials().iloc[0]
    assert (row["params"], row["macs"], row["model_bytes"], row["latency_ms"]) == (10, 20, 30, 1.5)
    assert len(reader.trials()) == 1


@pytest.mark.training
def test_a_search_logs_each_completed_trials_cost_and_it_can_be_measured_again(augmented_run):
    from tuning_core.runs.rundir import RunDir
    from tuning_core.search.cost import measure_trial

    trials = RunDir(augmented_run).reader().trials()
    completed = trials[trials["status"] == "completed"]
    assert len(completed) == 2 and completed["latency_ms"].gt(0).all()
    first = completed.iloc[0]
    again = measure_trial(augmented_run, str(first["trial_id"]), repeats=3)
    assert (again.params, again.macs) == (first["params"], first["macs"])  # deterministic
    assert again.macs > again.params  # a conv model reuses each weight at many positions
