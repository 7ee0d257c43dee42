"""A trial log reader's epoch table, kept as columns (see :class:`EpochColumns`)."""

from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np
import pandas as pd

EPOCH_COLUMNS = ["trial_id", "execution", "epoch", "seconds", "time"]
_FIXED = tuple(EPOCH_COLUMNS[1:])  # every line's own values, before its metrics
_RESERVED = frozenset(EPOCH_COLUMNS)  # a metric of one of these names: the general path
_NUMBERS = frozenset({int, float})  # exactly these types: a bool is not a number here
_BATCH = 8192  # pending rows moved into the columns at most at a time


class EpochColumns:
    """The epoch table kept as columns: numbers in typed arrays (8 bytes a value), the trial
    id one shared string a trial. A dict a row cost about 0.5 KB an epoch: 250 MB at 50,000
    trials of 10 epochs, against 40 MB so.

    A column holds floats while every value is a number or None (None as NaN, as a frame
    built from row dicts gives); a value of another kind (a hand-edited log) turns that
    column into a list of the values as they came.
    """

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._columns: dict[str, array[float] | list[Any]] = {
            name: array("d") for name in EPOCH_COLUMNS[1:]}
        self._shared: dict[str, str] = {}
        # The common line (every metric of the line before, as numbers) is kept as a row
        # and moved into the columns a batch at a time (:meth:`_flush`): per column at C
        # speed, not value by value (a long log's first replay took half its time here).
        self._pending: list[tuple[Any, ...]] = []  # (trial_id, *_FIXED, *self._order)
        self._order: tuple[str, ...] | None = None  # the metric names of the pending rows

    @property
    def ids(self) -> list[str]:
        """The trial id of each row (one shared string a trial)."""
        self._flush()
        return self._ids

    @property
    def columns(self) -> dict[str, array[float] | list[Any]]:
        """Every column but the trial id, by name, in the order first seen."""
        self._flush()
        return self._columns

    @classmethod
    def restored(cls, ids: list[str], columns: dict[str, array[float] | list[Any]]
                 ) -> EpochColumns:
        """The columns as a checkpoint kept them (:mod:`tuning_core.runs.logcheckpoint`):
        ``ids`` may repeat one string object a trial, as :meth:`append` shares them."""
        kept = cls()
        kept._ids = ids
        kept._columns = columns
        kept._shared = {trial_id: trial_id for trial_id in dict.fromkeys(ids)}
        return kept

    def add(self, trial_id: str, execution: Any, epoch: Any, seconds: Any, time: Any,
            metrics: Any) -> None:
        """One ``epoch_end`` line: what ``append(trial_id, {"execution": execution,
        "epoch": epoch, "seconds": seconds, "time": time, **metrics})`` does, faster for
        the common line (the same metric names as the columns hold, every value an int or
        a float, every column numeric)."""
        if type(metrics) is dict:
            order = tuple(metrics)
            if order != self._order:
                self._flush()
                self._order = order if self._fits(order) else None
            if self._order is not None:
                row = (trial_id, execution, epoch, seconds, time, *metrics.values())
                if _NUMBERS.issuperset(map(type, row[1:])):
                    self._pending.append(row)
                    if len(self._pending) >= _BATCH:
                        self._flush()
                    return
        self.append(trial_id, {"execution": execution, "epoch": epoch, "seconds": seconds,
                               "time": time, **metrics})

    def _fits(self, order: tuple[str, ...]) -> bool:
        """Whether lines of these metric names can be kept as pending rows: each names a
        numeric column, none of the fixed ones, and together they name every column."""
        names = set(order)
        return not names & _RESERVED and len(names) + len(_FIXED) == len(self._columns) \
            and names.issubset(self._columns) \
            and all(isinstance(column, array) for column in self._columns.values())

    def flush(self) -> None:
        """Move the pending rows into the columns now (a reader does at the end of each
        slice, so that a value no column can take fails the poll that read it)."""
        self._flush()

    def _flush(self) -> None:
        """Move the pending rows into the columns (every value an int or a float)."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        names = _FIXED + (self._order or ())
        ids, *values = zip(*rows, strict=True)
        try:  # converted whole before any column changes
            converted = [array("d", column) for column in values]
        except OverflowError:  # an int past a float's range: value by value, as before
            for row in rows:
                self.append(row[0], dict(zip(names, row[1:], strict=True)))
            return
        self._ids.extend(map(self._shared.setdefault, ids, ids))
        for name, column in zip(names, converted, strict=True):
            self._columns[name].extend(column)

    def append(self, trial_id: str, values: dict[str, Any]) -> None:
        self._flush()
        self._order = None  # a column may be new, or hold other values now
        rows = len(self._ids)
        self._ids.append(self._shared.setdefault(trial_id, trial_id))
        for name, value in values.items():
            if name == "trial_id":
                continue
            column = self._columns.get(name)
            if column is None:  # a metric first seen here: NaN for the rows before
                column = self._columns[name] = array("d", [math.nan]) * rows
            if len(column) > rows:
                continue  # a name twice in one line: the first wins
            if isinstance(column, array):
                number = _as_float(value)
                if number is not None:
                    column.append(number)
                    continue
                column = self._columns[name] = [None if math.isnan(v) else v for v in column]
            column.append(value)
        for column in self._columns.values():
            if len(column) == rows:  # absent from this line: NaN, as a frame of dicts has
                column.append(math.nan)

    def drop(self, trial_id: str) -> None:
        """Forget the epochs of ``trial_id`` (a retry's killed attempt)."""
        self._flush()
        keep = [i for i, t in enumerate(self._ids) if t != trial_id]
        if len(keep) == len(self._ids):
            return
        self._ids = [self._ids[i] for i in keep]
        self._columns = {name: (array("d", (c[i] for i in keep)) if isinstance(c, array)
                               else [c[i] for i in keep]) for name, c in self._columns.items()}

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
