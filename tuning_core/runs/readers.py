"""The process's readers of trial logs: one incremental reader per log, shared by every page,
and bounded by size and by use.

Why bounded: a server that opened a few large runs, or listed a thousand, kept every reader
(its lines, rows and frames) for good: 676 MB at 10,000 trials. The readers hold at most
``READER_LINES`` log lines together; past it the least recently asked go (a page that asks
again replays its log once, or loads a long log's checkpoint:
:mod:`tuning_core.runs.logcheckpoint`), but never the newest nor one asked in the last few
seconds.
And a reader no page asked for in ``READER_IDLE_S`` goes too, however small (a page that
watches a run asks every few seconds: the live feed polls it), so a server's memory follows
what is open, not what was opened once: a background reaper looks every ``REAP_EVERY_S``
while any reader is kept.
What a dropped reader held is given back to the system at once (:func:`memory.give_back`:
glibc keeps freed heap memory otherwise, 65 MB after a 50,000-trial reader went).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from tuning_core.core import memory
from tuning_core.runs.triallog import TrialLogReader

_READERS: OrderedDict[Path, TrialLogReader] = OrderedDict()  # least recently asked first
_ASKED: dict[Path, float] = {}  # when each reader was last asked for (monotonic seconds)
_READERS_LOCK = threading.Lock()
READER_LINES = 400_000  # log lines the readers of a process hold at most (about 10,000
# trials of 30 epochs; a reader holds its lines, rows and frames): past it the least recently
# asked readers go, and a page that asks again replays its log once (or, for a long
# log, loads its checkpoint)
READERS_MAX = 256  # readers kept at most, however small
READER_IDLE_S = 120.0  # a reader no page asked for this long goes
READER_BUSY_S = 10.0  # a reader asked for this recently stays past the line bound: a page
# run asks for a run's log and then its retrain's, and the Best page at 50,000 trials
# replayed the larger one at every run when the smaller, newer one pushed it out
REAP_EVERY_S = 30.0
_clock: Callable[[], float] = time.monotonic
_reaper: threading.Thread | None = None


def shared_reader(path: Path, siblings: str | None = None) -> TrialLogReader:
    """The process's one incremental reader of a log file (and the ``siblings`` glob of
    log files merged with it), polled (shared by every page)."""
    key = path.resolve()
    with _READERS_LOCK:
        reader = _READERS.get(key)
        if reader is None:
            reader = _READERS[key] = TrialLogReader(key, siblings)
        _READERS.move_to_end(key)
        _ASKED[key] = _clock()
    reader.poll()
    with _READERS_LOCK:
        dropped = _evict()
        _start_reaper()
    if dropped:
        memory.give_back()
    return reader


def kept() -> dict[Path, int]:
    """The readers kept now and the log lines each holds (least recently asked first)."""
    with _READERS_LOCK:
        return {path: reader.size for path, reader in _READERS.items()}


def reap() -> int:
    """Drop the readers no page asked for in ``READER_IDLE_S``; how many went."""
    with _READERS_LOCK:
        dropped = _evict()
    if dropped:
        memory.give_back()  # outside the lock: a page's reader is not kept waiting on it
    return dropped


def _evict() -> int:
    """Drop the readers idle past ``READER_IDLE_S``, then the least recently asked while
    all hold more than ``READER_LINES``, but none asked in the last ``READER_BUSY_S`` (and
    never the newest: a run larger than the bound is still read, once); how many went."""
    before = len(_READERS)
    now = _clock()
    for key in [k for k, asked in _ASKED.items() if now - asked > READER_IDLE_S]:
        _READERS.pop(key, None)
        _ASKED.pop(key, None)
    total = sum(r.size for r in _READERS.values())
    while (total > READER_LINES or len(_READERS) > READERS_MAX) and len(_READERS) > 1:
        key = next(iter(_READERS))
        if now - _ASKED.get(key, 0.0) < READER_BUSY_S:
            break  # every reader left was asked just now: the pages open need them
        _ASKED.pop(key, None)
        total -= _READERS.pop(key).size
    return before - len(_READERS)


def _start_reaper() -> None:
    global _reaper
    if _reaper is None or not _reaper.is_alive():
        _reaper = threading.Thread(target=_reap_while_kept, daemon=True, name="log-readers")
        _reaper.start()


def _reap_while_kept() -> None:
    global _reaper
    while True:
        time.sleep(REAP_EVERY_S)
        reap()
        with _READERS_LOCK:
            if not _READERS:
                _reaper = None
                return
