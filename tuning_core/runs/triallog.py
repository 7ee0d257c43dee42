"""The trial log: ``trials.jsonl``, written by the search, read by every chart.

One JSON object a line, each with ``event`` and ``time`` (unix seconds). The names are
:class:`tuning_core.core.states.LogEvent` (a writer can write no other), and how a reader replays
each is :data:`REPLAY` (an unknown name is kept and counted in ``unknown``):
``search_start``, ``trial_start``, ``epoch_end``, ``trial_end``, ``search_end`` (and, in a
distributed search, ``chief_start`` when the chief listens and ``trial_lost`` when a worker
died mid-trial; ``trial_cost`` after a completed trial: its model's size and speed, see
:mod:`tuning_core.search.cost`); a retrain's log has ``retrain_start``, ``epoch_end``,
``retrain_check`` and ``retrain_end``. Statuses are spelled as :mod:`tuning_core.core.states`
spells them.
The writer (:mod:`tuning_core.runs.logwriter`, its names importable from here too) opens,
appends, flushes and closes for every line, so it holds only a path (KerasTuner deep-copies
callbacks) and a reader in another thread or process never sees more than one half-written
line, which it leaves for the next poll. Writing a run's log, it also keeps the run's
``index.json`` current at each search start, trial end and search end
(:func:`tuning_core.runs.runindex.keep`: the lines since the index's last update counted in,
not a replay), so the Runs page and ``python -m tuning_core runs`` read one small file a run.

A reader that read ``CHECKPOINT_LINES`` events of a log (then less often:
:func:`checkpoint_due`) saves what it made of them beside it
(:mod:`tuning_core.runs.logcheckpoint`), and a fresh reader of that log (another process, or
this one's after its reader was dropped) starts from that instead of replaying: at 50,000
trials of 10 epochs, 0.4 s instead of a replay's 5.5-6.5 s (of CPU, on a loaded 2-core machine:
8.7-9.4 s before the common epoch line took a fast path, the collector was paused per slice and
a single log was no longer compressed), and 315 MB at most instead of 340 MB (490 MB before a
single log was read a block at a time).
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from tuning_core.core import memory
from tuning_core.core.states import LogEvent, SearchEnd, TrialStatus
from tuning_core.runs import logcheckpoint
from tuning_core.runs.epochcolumns import EPOCH_COLUMNS, EpochColumns
from tuning_core.runs.logwriter import INDEXED, TrialLogWriter, clean_metrics

__all__ = [  # the writer and the epoch table live in their own modules; imported from here too
    "COST_COLUMNS", "EPOCH_COLUMNS", "INDEXED", "REPLAY", "TRIAL_COLUMNS", "EpochColumns",
    "TrialLogReader", "TrialLogWriter", "clean_metrics",
]

TRIAL_COLUMNS = [
    "trial_id", "number", "status", "score", "seconds", "started", "ended", "error", "epochs",
    "worker",
]
COST_COLUMNS = ["params", "macs", "model_bytes", "latency_ms"]  # tuning_core.search.cost's
_SLICE = 4096  # log lines parsed at a time
_READ_BYTES = 8 << 20  # bytes of a single log read at a time (about 30,000 lines)
GIVE_BACK_LINES = 50_000  # a poll that read this many lines, or frames of a reader holding
# this many, give their garbage back to the system (:func:`memory.give_back`, a few ms):
# the dicts of a 50,000-trial replay and of its frames' making, 26 + 48 MB glibc kept
CHECKPOINT_LINES = 10_000  # a reader that read this many lines since its last checkpoint
# (or since it started from one) saves one (:mod:`tuning_core.runs.logcheckpoint`): about
# 1,000 trials of 10 epochs, whose replay takes 0.07 s and the checkpoint's load 0.01 s (its
# file a quarter of the log's size); a shorter log is replayed, as it costs less than the file
# it would take. A reader holding more saves less often, once it read half what it held more
# (at most ``CHECKPOINT_MAX_LINES`` apart): a growing log's checkpoints cost a few saves more,
# not one every 10,000 lines of a 600,000-line log (each a larger file than the last)
CHECKPOINT_MAX_LINES = 50_000


def checkpoint_due(unsaved: int, held: int) -> bool:
    """Whether a reader holding ``held`` events, ``unsaved`` of them read since its last
    checkpoint, saves one now: past ``CHECKPOINT_LINES``, then past half of what it held
    before them, up to ``CHECKPOINT_MAX_LINES``."""
    before = held - unsaved
    return unsaved >= max(CHECKPOINT_LINES, min(CHECKPOINT_MAX_LINES, before // 2))


class _Tail:
    """How far one log file was read: its inode and the offset past the last whole line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.inode: int | None = None

    def read(self, limit: int | None = None) -> list[bytes] | None:
        """The whole lines appended since the last read (those within ``limit`` bytes, or the
        first line however long); None when the file was replaced, shrank or went away
        after being read (the reader must start over)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None if self.inode is not None else []
        if self.inode is not None and (stat.st_ino != self.inode or stat.st_size < self.offset):
            return None
        self.inode = stat.st_ino
        if stat.st_size == self.offset:
            return []
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read(-1 if limit is None else limit)
            if limit is not None and b"\n" not in chunk and len(chunk) == limit:
                chunk += handle.read()  # a line longer than a block: taken whole
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        return [line for line in chunk[:end].splitlines() if line.strip()]


class TrialLogReader:
    """Reads a trial log incrementally: each poll reads only the bytes added since the last.

    A half-written last line is kept back until its newline arrives. The DataFrames are
    rebuilt only when something new came in. One reader may be shared by several threads
    (every browser session of a run polls the same one): polls and frames are serialised.

    ``siblings``: a glob of more log files beside ``path`` (a distributed search's workers
    each write their own, ``trials-<worker>.jsonl``). Their lines are merged with the main
    log's: each file's lines in file order, what a poll brings from several files in time
    order (``time`` of each event), so every trial's events stay in the order written.
    """

    def __init__(self, path: str | Path, siblings: str | None = None) -> None:
        self._siblings = siblings
        self._reset(path)
        self._lock = threading.RLock()

    def _reset(self, path: str | Path) -> None:
        self.path = Path(path)
        self._tails: dict[Path, _Tail] = {}
        # every event's line as read, compressed a batch at a time (a twentieth of the parsed
        # dicts' memory: events() parses them again, and only tools and tests ask for it),
        # once lines of several files were merged; before, the main log holds them all
        self._blocks: list[bytes] = []
        self._prefix = 0  # bytes of the main log whose events are read from it: not in
        # _blocks (taken from a checkpoint, or read while it was the only file)
        self._unsaved = 0  # events read since the last checkpoint was saved or loaded
        self._count = 0
        self._trials: dict[str, dict[str, Any]] = {}
        self._epochs = EpochColumns()
        self._search_status: str | None = None
        self.last_start: dict[str, Any] | None = None  # the latest search_start event
        self.last_end: dict[str, Any] | None = None  # the latest search_end event
        self.unknown: Counter[str] = Counter()  # events of names this version does not know
        self._frames: tuple[pd.DataFrame, pd.DataFrame] | None = None

    @property
    def size(self) -> int:
        """How much this reader holds, in log lines (what the process's cache of readers
        bounds: ``rundir.READER_LINES``)."""
        return self._count

    def poll(self) -> bool:
        """Read what was appended since the last poll; True when there were new events."""
        with self._lock:
            return self._poll()

    def paths(self) -> list[Path]:
        """The log files this reader merges: the main log first, then its siblings."""
        extra = sorted(self.path.parent.glob(self._siblings)) if self._siblings else []
        return [self.path] + [p for p in extra if p != self.path]

    def _poll(self) -> bool:
        paths = self.paths()
        # Only a single log is checkpointed: a distributed search's sibling logs are merged
        # in time order a poll at a time, so a replay of them depends on how their lines
        # arrived, and one stamp would have to cover several files that grow apart.
        single = paths == [self.path]
        restored = not self._tails and single and self._restore()
        batches: list[list[bytes]] = []
        added = 0
        for path in paths:
            tail = self._tails.setdefault(path, _Tail(path))
            # A single log is read and replayed a block at a time: a long log's bytes and
            # lines were held whole besides (350 MB at 50,000 trials: most of the peak)
            while (lines := tail.read(_READ_BYTES if single else None)) and single:
                added += self._replay(lines, store=bool(self._blocks))
            if lines is None:  # a file was replaced or went away (a retrain restarting its log)
                had_events = bool(self._count)
                self._reset(self.path)
                return self._poll() or had_events
            if lines:
                batches.append(lines)
        if single and not self._blocks:
            # A single log's lines stay in the file, for events() to read again, until lines
            # of several files were merged: a long log's compressing was a tenth of its
            # replay, and its blocks 39 MB at 50,000 trials
            self._prefix = self._tails[self.path].offset
        if not batches and not added:
            return restored
        if len(batches) == 1:
            added = self._replay(batches[0], store=True)
        elif batches:
            pairs = sorted((pair for lines in batches
                            for pair in zip(lines, self._records(lines), strict=True)),
                           key=lambda pair: _event_time(pair[1]))
            added = self._keep([raw for raw, record in pairs if self._ingest(record)])
        if added:
            self._frames = None
        self._unsaved += added
        if single and checkpoint_due(self._unsaved, self._count):
            self._save()
        if added >= GIVE_BACK_LINES:
            memory.give_back(collect=False)
        return restored or added > 0

    def _replay(self, lines: list[bytes], store: bool) -> int:
        """Replay the lines of one file, parsed a slice at a time (a long log's dicts never
        all at once); how many were events. ``store``: keep them for events() (else the
        main log holds them: see ``_prefix``)."""
        added = 0
        for start in range(0, len(lines), _SLICE):
            part = lines[start:start + _SLICE]
            with memory.collection_paused():  # the slice's dicts, freed before the next
                kept = self._ingest_all(part, self._records(part))
            added += self._keep(kept, store=store)
        return added

    def _restore(self) -> bool:
        """Take the state a checkpoint of the main log holds, when one fits the log as it is
        now (:func:`logcheckpoint.load`), and go on reading from its offset."""
        state = logcheckpoint.load(self.path)
        if state is None:
            return False
        tail = self._tails[self.path] = _Tail(self.path)
        tail.inode, tail.offset = state.inode, state.offset
        self._prefix = state.offset
        self._count = state.count
        self._trials = state.trials
        self._epochs = state.epochs
        self._search_status = state.search_status
        self.last_start, self.last_end = state.last_start, state.last_end
        self.unknown = Counter(state.unknown)
        self._frames = None
        return True

    def _save(self) -> None:
        """Checkpoint what this reader holds (when :func:`checkpoint_due`: a folder that
        cannot take it is not asked again at every poll)."""
        self._unsaved = 0
        tail = self._tails[self.path]
        if tail.inode is None:
            return
        logcheckpoint.save(self.path, logcheckpoint.LogState(
            inode=tail.inode, offset=tail.offset, count=self._count, trials=self._trials,
            epochs=self._epochs, search_status=self._search_status,
            last_start=self.last_start, last_end=self.last_end, unknown=dict(self.unknown)))

    def _records(self, lines: list[bytes]) -> list[Any]:
        try:  # one parse for the whole chunk: per-call overhead dominates short lines
            records = json.loads(b"[" + b",".join(lines) + b"]")
            if len(records) == len(lines):
                return records
            raise ValueError("a line held more than one value")
        except ValueError:  # a damaged line: parse one by one, skipping it
            return [self._parse(raw) for raw in lines]

    @staticmethod
    def _parse(raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            return None  # a damaged line (say, from a crash mid-write) must not hide the rest

    def _keep(self, lines: list[bytes], store: bool = True) -> int:
        if lines:
            if store:
                self._blocks.append(zlib.compress(b"\n".join(lines), 1))
            self._count += len(lines)
        return len(lines)

    def _ingest(self, record: Any) -> int:
        if not isinstance(record, dict) or "event" not in record:
            return 0
        name = record["event"]
        replay = _REPLAY_BY_NAME.get(name if type(name) is str else str(name), _UNKNOWN)
        if replay is _UNKNOWN:  # kept, and counted: written by a newer version, or damaged
            self.unknown[str(name)] += 1
        elif replay is not None:
            replay(self, record)
        return 1

    def _ingest_all(self, lines: list[bytes], records: list[Any]) -> list[bytes]:
        """The lines of events among ``lines``, each replayed (:meth:`_ingest`, inlined for
        the common event: a long log's first replay spends its time here)."""
        kept = []
        add, trials = self._epochs.add, self._trials
        for raw, record in zip(lines, records, strict=True):
            if type(record) is dict and record.get("event") == "epoch_end":
                get = record.get  # as _on_epoch_end
                trial_id = str(get("trial_id"))
                add(trial_id, get("execution", 0), get("epoch"), get("seconds"), get("time"),
                    get("metrics") or {})
                trial = trials.get(trial_id)
                if trial is not None:
                    trial["epochs"] += 1
                kept.append(raw)
            elif self._ingest(record):
                kept.append(raw)
        self._epochs.flush()
        return kept

    def _on_search_start(self, record: dict[str, Any]) -> None:
        # A trial still running when a new search starts lost its process: KerasTuner
        # retries it under the same id, and its trial_start will replace the row.
        self._mark_running(TrialStatus.INTERRUPTED)
        self._search_status = "running"
        self.last_start = record

    def _on_search_end(self, record: dict[str, Any]) -> None:
        end = SearchEnd.parse(record.get("status") or "finished")
        self._search_status = end.value
        self.last_end = record
        self._mark_running(TrialStatus.FAILED if end is SearchEnd.FAILED else TrialStatus.STOPPED)


    def _mark_running(self, status: TrialStatus) -> None:
        for trial in self._trials.values():
            if trial["status"] == TrialStatus.RUNNING.value:
                trial["status"] = status.value

    def _on_trial_start(self, record: dict[str, Any]) -> None:
        trial_id = str(record.get("trial_id"))
        previous = self._trials.get(trial_id)
        if previous is not None and not TrialStatus.parse(previous["status"]).is_ended():
            # a retry after a killed attempt: its half-trained epochs are not this trial's
            self._epochs.drop(trial_id)
            previous = None
        row = {
            "trial_id": trial_id, "number": record.get("number"),
            "status": TrialStatus.RUNNING.value, "score": None, "seconds": None,
            "started": record.get("time"), "ended": None, "error": None,
            "epochs": previous["epochs"] if previous else 0,
            "worker": record.get("worker"),  # which process ran it (distributed search)
        }
        for name, value in (record.get("hyperparameters") or {}).items():
            row["hp:" + name] = value
        self._trials[trial_id] = row

    def _on_trial_lost(self, record: dict[str, Any]) -> None:
        # A distributed search's worker died mid-trial; the chief gave the trial to another.
        trial = self._trials.get(str(record.get("trial_id")))
        if trial is not None and trial["status"] == TrialStatus.RUNNING.value:
            trial["status"] = TrialStatus.INTERRUPTED.value

    def _on_epoch_end(self, record: dict[str, Any]) -> None:
        trial_id = str(record.get("trial_id"))
        get = record.get
        self._epochs.add(trial_id, get("execution", 0), get("epoch"), get("seconds"),
                         get("time"), get("metrics") or {})
        trial = self._trials.get(trial_id)
        if trial is not None:
            trial["epochs"] += 1

    def _on_trial_end(self, record: dict[str, Any]) -> None:
        trial = self._trials.setdefault(
            str(record.get("trial_id")), {"trial_id": str(record.get("trial_id")), "epochs": 0}
        )
        trial.update(
            status=record.get("status"), score=record.get("score"),
            seconds=record.get("seconds"), ended=record.get("time"), error=record.get("error"),
        )

    def _on_trial_cost(self, record: dict[str, Any]) -> None:
        # Its own columns (params, macs, model_bytes, latency_ms): absent from older runs.
        trial = self._trials.get(str(record.get("trial_id")))
        if trial is not None and record.get("error") is None:
            trial.update({name: record.get(name) for name in COST_COLUMNS})

    @property
    def version(self) -> tuple[int | None, int]:
        """Changes whenever new events were read (the files and how far they were read)."""
        tails = list(self._tails.values())
        return hash(tuple(t.inode for t in tails)), sum(t.offset for t in tails)

    @property
    def search_status(self) -> str | None:
        """The last search's state: "running" after a start without end, else its end status."""
        return self._search_status

    def events(self) -> list[dict[str, Any]]:
        """Every event read so far, in order (after a start from a checkpoint, the lines it
        stood for are read from the log again)."""
        with self._lock:
            prefix, blocks = self._prefix, list(self._blocks)
        return self._prefix_events(prefix) + [
            json.loads(raw) for block in blocks for raw in zlib.decompress(block).split(b"\n")]

    def _prefix_events(self, size: int) -> list[dict[str, Any]]:
        """The events of the main log's first ``size`` bytes, as a replay keeps them."""
        if not size:
            return []
        with open(self.path, "rb") as handle:
            lines = [line for line in handle.read(size).splitlines() if line.strip()]
        return [record for start in range(0, len(lines), _SLICE)
                for record in self._records(lines[start:start + _SLICE])
                if isinstance(record, dict) and "event" in record]

    def snapshot(self) -> tuple[tuple[int | None, int], pd.DataFrame, pd.DataFrame]:
        """The version, the trials and the epochs, all read at the same log position.

        Read one by one, another thread's poll between them (the pages and the live feed
        share this reader) pairs older tables with a newer version: whatever is built and
        kept by that version (the Monitor's content) stays stale until the log grows again,
        which after a search's last line is never.
        """
        with self._lock:
            trials, epochs = self._build_frames()
            return self.version, trials, epochs

    def trials(self) -> pd.DataFrame:
        """One row per trial (see ``TRIAL_COLUMNS``) plus one ``hp:<name>`` column per
        hyperparameter."""
        return self._build_frames()[0]

    def epochs(self) -> pd.DataFrame:
        """One row per epoch end: trial, execution, epoch, seconds, time and every metric."""
        return self._build_frames()[1]

    def _build_frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        with self._lock:
            return self._frames or self._make_frames()

    def _make_frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if self._frames is None:
            trials = pd.DataFrame(list(self._trials.values()))
            trials = trials.reindex(columns=_ordered(trials.columns, TRIAL_COLUMNS))
            epochs = self._epochs.frame()
            self._frames = (trials, epochs)
            if self._count >= GIVE_BACK_LINES:
                memory.give_back(collect=False)
        return self._frames


# How a reader replays each event; None: kept in ``events()`` and changes no table.
REPLAY: dict[LogEvent, Callable[[TrialLogReader, dict[str, Any]], None] | None] = {
    LogEvent.SEARCH_START: TrialLogReader._on_search_start,
    LogEvent.SEARCH_END: TrialLogReader._on_search_end,
    LogEvent.CHIEF_START: None,
    LogEvent.TRIAL_START: TrialLogReader._on_trial_start,
    LogEvent.EPOCH_END: TrialLogReader._on_epoch_end,
    LogEvent.TRIAL_END: TrialLogReader._on_trial_end,
    LogEvent.TRIAL_LOST: TrialLogReader._on_trial_lost,
    LogEvent.TRIAL_COST: TrialLogReader._on_trial_cost,
    LogEvent.RETRAIN_START: TrialLogReader._on_search_start,
    LogEvent.RETRAIN_CHECK: None,
    LogEvent.RETRAIN_END: TrialLogReader._on_search_end,
}
# The same by the name as written: a dict look-up a line, not an Enum's construction
_REPLAY_BY_NAME: dict[str, Callable[[TrialLogReader, dict[str, Any]], None] | None] = {
    event.value: replay for event, replay in REPLAY.items()}
_UNKNOWN: Any = object()


def _event_time(record: Any) -> float:
    try:
        return float(record.get("time") or 0.0)
    except (AttributeError, TypeError, ValueError):
        return 0.0


def _ordered(columns: pd.Index, first: list[str]) -> list[str]:
    """The fixed columns first (even when absent), then the rest in their order."""
    return first + [c for c in columns if c not in first]
