"""The process's readers of trial logs: one incremental reader per log, shared by every page,
and bounded.

Why bounded: a server that opened a few large runs, or listed a thousand, kept every reader
(its lines, rows and frames) for good: 676 MB at 10,000 trials. The readers hold at most
``READER_LINES`` log lines together; past it the least recently asked go (a page that asks
again replays its log once), and never the newest.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from tuning_core.runs.triallog import TrialLogReader

_READERS: OrderedDict[Path, TrialLogReader] = OrderedDict()  # least recently asked first
_READERS_LOCK = threading.Lock()
READER_LINES = 400_000  # log lines the readers of a process hold at most (about 10,000
# trials of 30 epochs; a reader holds its lines, rows and frames): past it the least recently
# asked readers go, and a page that asks again replays its log once
READERS_MAX = 256  # readers kept at most, however small


def shared_reader(path: Path, siblings: str | None = None) -> TrialLogReader:
    """The process's one incremental reader of a log file (and the ``siblings`` glob of
    log files merged with it), polled (shared by every page)."""
    key = path.resolve()
    with _READERS_LOCK:
        reader = _READERS.get(key)
        if reader is None:
            reader = _READERS[key] = TrialLogReader(key, siblings)
        _READERS.move_to_end(key)
    reader.poll()
    with _READERS_LOCK:
        _evict()
    return reader


def _evict() -> None:
    """Drop the least recently asked readers while all hold more than ``READER_LINES``
    (never the newest: a run larger than the bound is still read, once)."""
    total = sum(r.size for r in _READERS.values())
    while (total > READER_LINES or len(_READERS) > READERS_MAX) and len(_READERS) > 1:
        total -= _READERS.popitem(last=False)[1].size
