"""The epoch table's columns: the fast path for the common line gives what the general one
gave, however odd the lines."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tuning_core.runs.epochcolumns import EpochColumns
from tuning_core.runs.triallog import TrialLogReader

FIXED = ("execution", "epoch", "seconds", "time")


def _odd_lines() -> list[dict[str, Any]]:
    """Epoch lines as a hand-edited or long-lived log has them: runs of the common line
    broken by a metric appearing late, one disappearing, reordered names, a string, a bool,
    None, an int, an empty metrics, a metric named like a fixed column, a retry's drop."""
    lines: list[dict[str, Any]] = []

    def epoch(trial: str, n: int, metrics: dict[str, Any], **fixed: Any) -> None:
        line = {"event": "epoch_end", "time": 10.0 + len(lines), "trial_id": trial,
                "execution": 0, "epoch": n, "seconds": 0.5, "metrics": metrics}
        line.update(fixed)
        lines.append(line)

    lines.append({"event": "trial_start", "time": 1.0, "trial_id": "a", "number": 1})
    for n in range(3):
        epoch("a", n, {"loss": 1.0 / (n + 1), "acc": 0.5})
    epoch("a", 3, {"loss": 0.2, "acc": 0.6, "val_acc": 0.4})  # a metric first seen late
    epoch("a", 4, {"acc": 0.7, "loss": 0.1, "val_acc": 0.5})  # the same names, reordered
    epoch("a", 5, {"loss": 0.1})  # acc and val_acc disappear
    epoch("a", 6, {"loss": None, "acc": 1, "val_acc": 0.5})  # None, an int
    lines.append({"event": "search_start", "time": 2.0})
    lines.append({"event": "trial_start", "time": 3.0, "trial_id": "a", "number": 1})  # retry
    for n in range(3):
        epoch("a", n, {"loss": 0.3, "acc": 0.5, "val_acc": 0.2})
    lines.append({"event": "trial_start", "time": 4.0, "trial_id": "b", "number": 2})
    epoch("b", 0, {"loss": 0.3, "acc": True, "val_acc": 0.2})  # a bool is no number
    epoch("b", 1, {"loss": 0.3, "acc": 0.5, "val_acc": 0.2})
    epoch("b", 2, {"loss": "nan?", "acc": 0.5, "val_acc": 0.2})  # a string
    epoch("b", 3, {"loss": 0.3, "acc": 0.5, "val_acc": 0.2, "lr": 0.01})  # late again
    epoch("b", 4, {})
    epoch("b", 5, {"loss": 0.3, "acc": 0.5, "epoch": 99, "trial_id": "z"})  # as {**metrics}
    epoch("b", 6, {"loss": 0.3, "acc": 0.5, "val_acc": 0.2}, execution=1, seconds=2)
    epoch("c", 0, {"loss": 0.3, "acc": 0.5, "val_acc": 0.2}, epoch=1.5)  # no trial_start
    return lines


def _reference(lines: list[dict[str, Any]]) -> pd.DataFrame:
    """The epoch table built plainly: a frame of the row dicts (a retry's killed attempt
    left out; a metric named like a fixed column replaces it, one named trial_id is not
    kept), numbers as floats, execution and epoch as ints when
    whole, as :meth:`EpochColumns.frame` gives them."""
    rows: list[dict[str, Any]] = []
    for line in lines:
        if line["event"] == "trial_start" and line["time"] == 3.0:  # a's retry
            rows = [row for row in rows if row["trial_id"] != "a"]
        elif line["event"] == "epoch_end":
            row = {"trial_id": line["trial_id"], **{name: line.get(name) for name in FIXED}}
            row.update({k: v for k, v in line["metrics"].items() if k != "trial_id"})
            rows.append(row)
    frame = pd.DataFrame.from_records(rows)
    for name in frame.columns[1:]:
        values = list(frame[name])
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
               for v in values):
            frame[name] = np.array([math.nan if v is None else v for v in values], dtype=float)
    for name in ("execution", "epoch"):
        if (frame[name] == frame[name].round()).all():
            frame[name] = frame[name].astype(np.int64)
    return frame


def test_a_log_of_odd_epoch_lines_gives_the_plain_frame(tmp_path: Path) -> None:
    lines = _odd_lines()
    path = tmp_path / "trials.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    reader = TrialLogReader(path)
    reader.poll()
    epochs = reader.epochs()
    pd.testing.assert_frame_equal(epochs, _reference(lines))
    assert epochs["loss"].dtype == object and epochs["acc"].dtype == object  # string, bool
    assert epochs["lr"].dtype == float and np.isnan(epochs["lr"][:6]).all()
    assert epochs["lr"][6] == 0.01 and np.isnan(epochs["lr"][7:]).all()
    assert list(reader.trials()["epochs"]) == [3, 7]  # a's retry, b's; c has no row
    assert reader.events() == lines


def test_the_fast_path_gives_what_the_general_one_gives() -> None:
    """Seeded random lines, mostly the common one: ``add`` (pending rows, moved a batch at a
    time) and ``append`` (value by value) build the same columns, read midway too."""
    rng = random.Random(29)
    fast, general = EpochColumns(), EpochColumns()
    names = ["loss", "acc", "val_loss"]
    for n in range(3000):
        if rng.random() < 0.02:
            names = rng.sample(["loss", "acc", "val_loss", "lr", "f1"], rng.randint(0, 5))
        metrics: dict[str, Any] = {name: rng.random() for name in names}
        if rng.random() < 0.01 and names:
            metrics[rng.choice(names)] = rng.choice([None, 3, True, "x"])
        trial, fixed = f"t{n // 10}", (0, n % 10, rng.random(), float(n))
        fast.add(trial, *fixed, metrics)
        general.append(trial, dict(zip(FIXED, fixed, strict=True)) | metrics)
        if n % 700 == 0:
            fast.drop(f"t{n // 10 - 3}")
            general.drop(f"t{n // 10 - 3}")
        if n % 1000 == 999:
            pd.testing.assert_frame_equal(fast.frame(), general.frame())
    assert fast.ids == general.ids and list(fast.columns) == list(general.columns)
    pd.testing.assert_frame_equal(fast.frame(), general.frame())


def test_an_int_past_a_floats_range_fails_as_before_and_changes_nothing() -> None:
    fast, general = EpochColumns(), EpochColumns()
    for columns in (fast, general):
        columns.add("a", 0, 0, 1.0, 2.0, {"loss": 0.5})
    fast.add("a", 0, 1, 1.0, 3.0, {"loss": 10 ** 400})  # pending: the common line's types
    with pytest.raises(OverflowError):
        general.append("a", {"execution": 0, "epoch": 1, "seconds": 1.0, "time": 3.0,
                             "loss": 10 ** 400})
    with pytest.raises(OverflowError):
        fast.flush()
    assert fast.ids == general.ids and len(fast.ids) == 2  # as the general path left it
    assert {n: list(c) for n, c in fast.columns.items()} == \
        {n: list(c) for n, c in general.columns.items()}
