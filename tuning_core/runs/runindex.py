"""A run's summary index, ``index.json``: what the Runs page lists, without replaying the log.

Why: listing 1,000 runs replayed every trial log and parsed every ``run.json`` (5 s warm and
13.6 s on a fresh server here, twice per Runs page run). The index holds the headline of a
run (settings the list shows, its name and tags, the last search's status and why it ended,
trials ended, best score, disk size) and what it was read from: how far each trial log was
read (inode and offset past its last whole line), and the stamps of ``run.json`` and
``notes.json``.

Who keeps it current: the trial log's writer (:class:`tuning_core.runs.triallog.TrialLogWriter`)
at each search start, trial end and search end: it reads the index and only the log lines
written since (one trial's epochs), counts them in and saves it (:func:`keep`). A reader finds
it current with a few stat calls; otherwise it catches up the same way (new lines only, a
changed ``notes.json`` or ``run.json`` re-read alone), and replays a log whole only when the
index is missing, of another version, or a log was replaced or shrank (an old run, a hand
edit). Every update is a consistent snapshot: counts and offsets come from the same read, so
two writers racing leave it stale at worst, never wrong.

One assumption, which the search keeps (``RunDir.reconcile`` logs a trial end only where the
log misses one): each trial ends once in the log.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from tuning_core.core.errors import TuningError
from tuning_core.core.states import Direction, RunStatus, SearchEnd, TrialStatus
from tuning_core.runs import layout

INDEX_FILE = "index.json"
INDEX_VERSION = 2
Stamp = tuple[int, int] | None  # (mtime_ns, size) of a file (layout.file_stamp), or None
Mark = tuple[int, int]  # a log file's inode, and the offset past the last whole line read
_SKIP = b'"event": "epoch_end"'  # most lines: no headline in them, not parsed
_TAIL_READ = 1 << 20  # bytes read at a time when catching up


def logged_status(search_status: str | None) -> RunStatus:
    """The status a search log alone gives: a start without an end is interrupted."""
    if search_status is None:
        return RunStatus.NEW
    if search_status == "running":
        return RunStatus.INTERRUPTED
    return RunStatus.from_end(SearchEnd.parse(search_status))


def stamp(path: Path) -> Stamp:
    """A file's (mtime in ns, size), None when it cannot be read."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def log_files(run_dir: Path) -> dict[str, os.stat_result]:
    """The run's trial logs there now (``trials.jsonl`` and a distributed search's
    ``trials-<worker>.jsonl``), by name, with their stat."""
    prefix, suffix = layout.WORKER_LOG.split("{}")
    found = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir(run_dir):
            name = entry.name
            if name == layout.LOG_FILE or (name.startswith(prefix) and name.endswith(suffix)):
                with contextlib.suppress(OSError):
                    found[name] = entry.stat()
    return found


@dataclass(frozen=True)
class RunIndex:
    """A run's headline, as of the logs' marks and ``run.json``'s and ``notes.json``'s
    stamps."""

    logs: dict[str, Mark]  # each trial log read so far: name -> (inode, offset)
    config: Stamp
    notes: Stamp
    name: str  # run.json's name
    label: str  # the notes' name ("" until someone names the run)
    tags: tuple[str, ...]
    notes_text: str
    owner: str
    tuner: str
    objective: str
    direction: str
    max_trials: int
    created: float
    dataset: str
    search_status: str | None = None
    end_reason: str | None = None  # why the last search stopped when not asked: "disk full"
    end_message: str | None = None  # its end line's words ("disk full: 0.7 MB free on /data")
    trials_done: int = 0
    best_score: float | None = None
    running: tuple[str, ...] = ()  # trials started and not ended (a search's end ends them)
    bytes: int | None = None  # the folder's size when last walked (None: never)

    def current(self, logs: dict[str, os.stat_result], config: Stamp, notes: Stamp) -> bool:
        """True while the files it was read from are as they were."""
        return self.config == config and self.notes == notes and self.read_to_end(logs)

    def read_to_end(self, logs: dict[str, os.stat_result]) -> bool:
        """True when every log there is was read to its end."""
        return self.logs == {n: (s.st_ino, s.st_size) for n, s in logs.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"version": INDEX_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunIndex | None:
        """The index in ``data``, or None when it is of another version or not whole."""
        if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
            return None
        try:
            values = {f.name: data[f.name] for f in fields(cls)}
            values["logs"] = {str(n): (int(m[0]), int(m[1])) for n, m in values["logs"].items()}
            for name in ("config", "notes"):
                values[name] = tuple(values[name]) if values[name] is not None else None
            values["tags"], values["running"] = tuple(values["tags"]), tuple(values["running"])
            return cls(**values)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            return None

    def with_bytes(self, size: int) -> RunIndex:
        return replace(self, bytes=size)

    # --- catching up -----------------------------------------------------------------------
    def caught_up(self, run_dir: Path, logs: dict[str, os.stat_result]) -> RunIndex | None:
        """This index with the lines appended to its logs since counted in (a new log file
        read from its start); None when a log was replaced, shrank or went away (replay)."""
        if any(name not in logs for name in self.logs):
            return None
        counts, marks, new = _Counts.of(self), dict(self.logs), []
        for name, info in logs.items():
            inode, offset = marks.get(name, (info.st_ino, 0))
            if inode != info.st_ino or info.st_size < offset:
                return None
            marks[name] = (info.st_ino, offset)
            if info.st_size > offset:
                new.append(name)
        if len(new) == 1:  # the common case: one log, its lines counted in as read
            marks[new[0]] = (marks[new[0]][0], counts.read(run_dir / new[0], marks[new[0]][1],
                                                            counts.add))
        elif new:  # a distributed search's logs: merged in time order, as the reader does
            records: list[dict[str, Any]] = []
            for name in new:
                marks[name] = (marks[name][0], counts.read(run_dir / name, marks[name][1],
                                                           records.append))
            for record in sorted(records, key=_time):
                counts.add(record)
        return counts.into(replace(self, logs=marks))

    def replayed(self, run_dir: Path, logs: dict[str, os.stat_result]) -> RunIndex:
        """This index with its counts read again from every log's start."""
        empty = replace(self, logs={}, search_status=None, end_reason=None, end_message=None,
                        trials_done=0, best_score=None, running=())
        caught = empty.caught_up(run_dir, logs)
        assert caught is not None  # nothing read yet: nothing can have shrunk
        return caught


class _Counts:
    """The headline's counts while lines are read: the replay of the events that change it
    (search start and end, trial start, end and loss), as ``TrialLogReader`` replays them."""

    def __init__(self, direction: str, status: str | None, reason: str | None,
                 message: str | None, done: int, best: float | None,
                 running: tuple[str, ...]) -> None:
        self.direction = Direction.of(direction)
        self.status, self.reason, self.message = status, reason, message
        self.done, self.best, self.running = done, best, list(running)

    @classmethod
    def of(cls, index: RunIndex) -> _Counts:
        return cls(index.direction, index.search_status, index.end_reason, index.end_message,
                   index.trials_done, index.best_score, index.running)

    def into(self, index: RunIndex) -> RunIndex:
        return replace(index, search_status=self.status, end_reason=self.reason,
                       end_message=self.message, trials_done=self.done, best_score=self.best,
                       running=tuple(self.running))

    @staticmethod
    def read(path: Path, offset: int, sink: Callable[[dict[str, Any]], Any]) -> int:
        """Give ``sink`` each event of the whole lines of ``path`` from ``offset`` that can
        change the headline; the offset past the last whole line."""
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                rest = b""
                while chunk := handle.read(_TAIL_READ):
                    chunk = rest + chunk
                    end = chunk.rfind(b"\n") + 1
                    for line in chunk[:end].split(b"\n"):
                        if line and _SKIP not in line:
                            record = _parse(line)
                            if record is not None:
                                sink(record)
                    offset += end  # the chunk starts at the last offset
                    rest = chunk[end:]
        except OSError:
            pass  # gone meanwhile: what was read counts, the rest comes with the next look
        return offset

    def add(self, record: dict[str, Any]) -> None:
        event = record.get("event")
        if event in ("search_start", "retrain_start"):
            self.status, self.reason, self.message, self.running = "running", None, None, []
        elif event in ("search_end", "retrain_end"):
            self.status = SearchEnd.parse(record.get("status") or "finished").value
            self.reason, self.message = record.get("reason"), record.get("message")
            self.done += len(self.running)  # the reader marks them stopped or failed: ended
            self.running = []
        elif event == "trial_start":
            trial = str(record.get("trial_id"))
            if trial not in self.running:
                self.running.append(trial)
        elif event == "trial_lost":
            self._stop(str(record.get("trial_id")))
        elif event == "trial_end":
            self._stop(str(record.get("trial_id")))
            status = TrialStatus.parse(record.get("status"))
            self.done += status.is_ended()
            score = _number(record.get("score"))
            if status.is_ranked() and score is not None and \
                    (self.best is None or self.direction.better(score, self.best)):
                self.best = score

    def _stop(self, trial: str) -> None:
        with contextlib.suppress(ValueError):
            self.running.remove(trial)


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None  # a damaged line hides nothing else (as the reader skips it)
    return record if isinstance(record, dict) else None


def _time(record: dict[str, Any]) -> float:
    return _number(record.get("time")) or 0.0


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def refresh(run_dir: Path, saved: RunIndex | None) -> tuple[RunIndex, bool]:
    """The run's current index, from ``saved`` (None: read from scratch), and whether it
    changed: a changed ``run.json`` or ``notes.json`` is read again alone, new log lines are
    counted in, a replaced or shrunk log is replayed whole. RunError when the folder is not a
    readable run."""
    logs = log_files(run_dir)
    config, notes = stamp(run_dir / layout.RUN_FILE), stamp(run_dir / layout.NOTES_FILE)
    if saved is not None and saved.current(logs, config, notes):
        return saved, False
    index = saved
    if index is None or index.config != config:
        index = _settings(run_dir, config, index)
    if index.notes != notes:
        index = _notes(run_dir, notes, index)
    if index.read_to_end(logs):
        return index, True
    caught = index.caught_up(run_dir, logs)
    return (caught if caught is not None else index.replayed(run_dir, logs)), True


def _settings(run_dir: Path, config_stamp: Stamp, index: RunIndex | None) -> RunIndex:
    config = layout.read_config(run_dir)  # RunError when unreadable
    settings: dict[str, Any] = dict(
        name=config.name, owner=config.owner, tuner=config.tuner.tuner,
        objective=config.tuner.objective, direction=config.tuner.direction.value,
        max_trials=config.tuner.max_trials, created=config.created,
        dataset=Path(config.data_dir).name, config=config_stamp)
    if index is not None and index.direction == settings["direction"]:
        return replace(index, **settings)
    # a new index, or the objective turned the other way: the best must be counted again
    return RunIndex(logs={}, notes=None, label="", tags=(), notes_text="", **settings)


def _notes(run_dir: Path, notes_stamp: Stamp, index: RunIndex) -> RunIndex:
    try:
        notes = layout.read_notes(run_dir)
    except TuningError:  # a hand-broken notes.json must not hide the run from the list
        return replace(index, notes=notes_stamp, label="", tags=(), notes_text="")
    return replace(index, notes=notes_stamp, label=notes.name, tags=tuple(notes.tags),
                   notes_text=notes.notes)


def read_index(run_dir: Path) -> RunIndex | None:
    """The index saved in ``run_dir``, or None (none yet, unreadable, another version)."""
    try:
        return RunIndex.from_dict(json.loads((run_dir / INDEX_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_index(run_dir: Path, index: RunIndex) -> None:
    """Save ``index`` whole or not at all; a folder that cannot be written keeps its old one.

    Not flushed to disk before the rename (``core.atomic`` does): the index is a cache that
    the writer rewrites at every trial end, and one lost or emptied by a power cut is read
    as missing and rebuilt from the log."""
    path = run_dir / INDEX_FILE
    with contextlib.suppress(OSError):  # read-only: the next list reads the log again
        fd, tmp = tempfile.mkstemp(prefix=f".{INDEX_FILE}.", suffix=".tmp", dir=run_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(index.to_dict(), handle, default=str)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def keep(run_dir: Path) -> None:
    """The writer's part: bring the run's saved index up to the log's end and save it (new
    lines only; a run without one gets one). Never raises for the index's sake: a search
    must not end because its index could not be kept (the next list rebuilds it)."""
    with contextlib.suppress(TuningError, OSError, ValueError, TypeError):
        index, changed = refresh(run_dir, read_index(run_dir))
        if changed:
            write_index(run_dir, index)


def is_run_log(path: Path) -> bool:
    """True for a run's trial log (not a retrain's): the writer keeps the index for these."""
    prefix, suffix = layout.WORKER_LOG.split("{}")
    name = path.name
    return name == layout.LOG_FILE or (name.startswith(prefix) and name.endswith(suffix))

