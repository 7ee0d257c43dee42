"""The trial log's writer: appends one event a line and keeps the run's index current.

The writer opens, appends, flushes and closes for every line, so it holds only a path
(KerasTuner deep-copies callbacks) and a reader in another thread or process never sees
more than one half-written line. Writing a run's log, it also keeps the run's
``index.json`` current at each search start, trial end and search end
(:func:`tuning_core.runs.runindex.keep`). The reader is :mod:`tuning_core.runs.triallog`
(which re-exports these names).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from tuning_core.core import atomic
from tuning_core.core.states import LogEvent
from tuning_core.runs import runindex


def _clean(value: Any) -> Any:
    """JSON-safe value: NaN and infinities become None, numpy scalars plain numbers."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# the events after which the writer brings the run's index up to date (the others change
# no headline: they are counted in with the next of these)
INDEXED = frozenset({LogEvent.SEARCH_START, LogEvent.TRIAL_END, LogEvent.SEARCH_END})


class TrialLogWriter:
    """Appends events to a run's trial log and keeps the run's index; holds only the path."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    def write(self, event: LogEvent | str, **fields: Any) -> None:
        """Append one event line (a search's start and end and a trial's end flushed to
        disk); ValueError for a name that is not a :class:`LogEvent` (a reader would not
        know it)."""
        name = LogEvent(event)
        record = {"event": name.value, "time": time.time()}
        record.update({k: _clean(v) for k, v in fields.items()})
        line = (json.dumps(record, default=str) + "\n").encode("utf-8")
        # a line after a torn one (a kill or power cut mid-append) starts afresh, never glued
        # to it (the pair would read as one bad line: a trial's end lost); the lines the
        # index counts (a search's start and end, a trial's end) are on disk before it moves
        atomic.append_line(self.path, line, sync=name in INDEXED)
        if name in INDEXED and runindex.is_run_log(Path(self.path)):
            runindex.keep(Path(self.path).parent)


def clean_metrics(logs: dict[str, Any] | None) -> dict[str, Any]:
    """Keras logs as plain JSON numbers (NaN becomes None)."""
    return {str(k): _clean(float(v)) for k, v in (logs or {}).items() if _is_number(v)}


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
