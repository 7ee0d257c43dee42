"""States and kinds with their behaviour (tuning_core/core/states.py): here, an objective's way."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tuning_core.core.states import Direction
from tuning_core.runs.schema import TunerSettings, objective_direction


@pytest.mark.parametrize("way, a, b, best, so_far, word", [
    (Direction.MAX, 0.9, 0.8, 0.9, [0.5, 0.9, 0.9, 0.95], "higher"),
    (Direction.MIN, 0.8, 0.9, 0.3, [0.5, 0.5, 0.3, 0.3], "lower"),
])
def test_each_way_knows_what_is_better(way, a, b, best, so_far, word) -> None:
    values = [0.5, 0.9, 0.3, 0.95]
    assert way.better(a, b) and not way.better(b, a) and not way.better(a, a)
    assert way.best([0.5, 0.3, 0.9]) == best and way.word == word
    assert way.best_so_far(values) == so_far
    ordered = pd.Series([0.5, 0.9, 0.3]).sort_values(ascending=way.ascending)
    assert ordered.iloc[0] == way.best([0.5, 0.9, 0.3])
    assert way.best_index(pd.Series([0.5, 0.9, 0.3], index=list("abc"))) == \
        ("b" if way is Direction.MAX else "c")
    assert way.sign * a < way.sign * b  # smaller when better


def test_a_direction_is_its_spelling_where_keras_and_json_read_it() -> None:
    assert Direction.MAX == "max" and json.dumps({"d": Direction.MIN}) == '{"d": "min"}'
    assert Direction.of("min") is Direction.MIN and Direction.of(Direction.MAX) is Direction.MAX
    assert objective_direction("val_accuracy") is Direction.MAX
    assert TunerSettings(objective="val_loss").direction is Direction.MIN
    with pytest.raises(ValueError):
        Direction.of("up")
