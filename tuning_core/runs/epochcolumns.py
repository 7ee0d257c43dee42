"""A trial log reader's epoch table, kept as columns (see :class:`EpochColumns`)."""

from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np
import pandas as pd

EPOCH_COLUMNS = ["trial_id", "execution", "epoch", "seconds", "time"]


class EpochColumns:
    """The epoch table kept as columns: numbers in typed arrays (8 bytes a value), the trial
    id one shared string a trial. A dict a row cost about 0.5 KB an epoch: 250 MB at 50,000
    trials of 10 epochs, against 40 MB so.

    A column holds floats while every value is a number or None (None as NaN, as a frame
    built from row dicts gives); a value of another kind (a hand-edited log) turns that
    column into a list of the values as they came.
    """

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.columns: dict[str, array[float] | list[Any]] = {
            name: array("d") for name in EPOCH_COLUMNS[1:]}
        self._shared: dict[str, str] = {}

    @classmethod
    def restored(cls, ids: list[str], columns: dict[str, array[float] | list[Any]]
                 ) -> EpochColumns:
        """The columns as a checkpoint kept them (:mod:`tuning_core.runs.logcheckpoint`):
        ``ids`` may repeat one string object a trial, as :meth:`append` shares them."""
        kept = cls()
        kept.ids = ids
        kept.columns = columns
        kept._shared = {trial_id: trial_id for trial_id in dict.fromkeys(ids)}
        return kept

    def append(self, trial_id: str, values: dict[str, Any]) -> None:
        rows = len(self.ids)
        self.ids.append(self._shared.setdefault(trial_id, trial_id))
        for name, value in values.items():
            if name == "trial_id":
                continue
            column = self.columns.get(name)
            if column is None:  # a metric first seen here: NaN for the rows before
                column = self.columns[name] = array("d", [math.nan]) * rows
            if len(column) > rows:
                continue  # a name twice in one line: the first wins
            if isinstance(column, array):
                number = _as_float(value)
                if number is not None:
                    column.append(number)
                    continue
                column = self.columns[name] = [None if math.isnan(v) else v for v in column]
            column.append(value)
        for column in self.columns.values():
            if len(column) == rows:  # absent from this line: NaN, as a frame of dicts has
                column.append(math.nan)

    def drop(self, trial_id: str) -> None:
        """Forget the epochs of ``trial_id`` (a retry's killed attempt)."""
        keep = [i for i, t in enumerate(self.ids) if t != trial_id]
        if len(keep) == len(self.ids):
            return
        self.ids = [self.ids[i] for i in keep]
        self.columns = {name: (array("d", (c[i] for i in keep)) if isinstance(c, array)
                               else [c[i] for i in keep]) for name, c in self.columns.items()}

    def frame(self) -> pd.DataFrame:
        if not self.ids:
            return pd.DataFrame().reindex(columns=EPOCH_COLUMNS)
        data: dict[str, Any] = {"trial_id": list(self.ids)}
        for name, column in self.columns.items():
            data[name] = np.array(column, dtype=float) if isinstance(column, array) \
                else pd.Series(column).infer_objects().to_numpy()
        for name in ("execution", "epoch"):  # whole numbers: ints, as logged, when all are
            values = data[name]
            if values.dtype == float and not np.isnan(values).any() and \
                    (values == np.round(values)).all():
                data[name] = values.astype(np.int64)
        return pd.DataFrame(data)


def _as_float(value: Any) -> float | None:
    """``value`` as a float for a numeric column: None is NaN; None for anything else."""
    if value is None:
        return math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
