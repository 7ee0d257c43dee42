"""A stamped checkpoint of a trial log reader's replayed state, kept beside the log.

Why: a fresh process (a server after ``make run`` or a reboot, a second server on the same
workspace) replayed a finished run's whole log before its first chart: about 9 s of CPU at
50,000 trials of 10 epochs (634,000 lines, 190 MB). A reader that replayed a long log saves
what it holds here; the next process's reader loads it in its first poll instead of
replaying and goes on reading from the checkpoint's offset (lines appended since are read as
usual).

The file, ``.<log name>.checkpoint.npz`` beside the log (one per log: a retrain's log has its
own), is one ``np.savez`` archive, never a pickle: the epoch table's number columns as
float64 arrays, its trial ids as int32 codes into a list of the distinct ids, and everything
else (the trial rows, the search's state, the list columns a hand-edited log makes) as JSON
in a uint8 array (the rows came from JSON, so they go back to it whole).

It is a cache, never the truth: its stamp (the log's inode, the offset read to, and the
crc32 of the first and of the last 4 KiB before that offset) must match the log as it is
now, and its format version this module's. Anything else (an older or newer format, a
missing key, a torn or damaged file, a log replaced or cut short) loads as None, and the
reader replays the log as before. Writing is atomic (a temporary name renamed over it;
a killed writer's temporary is removed by the next save, :mod:`tuning_core.core.leftovers`),
not flushed to disk (a lost one is rebuilt), and skipped without a word to the user when
the folder is read-only or full.

Bump :data:`FORMAT_VERSION` whenever what a replay makes of the log changes (the reader's
``REPLAY``, the rows' or the epoch columns' shape): a checkpoint of the old replay must not
stand in for the new one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tuning_core.core import diskspace, leftovers
from tuning_core.runs.epochcolumns import EpochColumns

FORMAT_VERSION = 1  # bump whenever replay semantics or this layout change
STAMP_BYTES = 4096  # the crc32s cover this much at the log's start and before the offset
KEEP_FREE_BYTES = 1 << 30  # a checkpoint is not written where it would leave less free: it
# is a cache (about a third of its log's size), and a disk's last space is for the searches
# that write there (trial checkpoints, the log's own lines)
log = logging.getLogger(__name__)


@dataclass
class LogState:
    """What a reader holds after replaying a log up to ``offset`` (see TrialLogReader)."""

    inode: int
    offset: int  # bytes read: past the last whole line
    count: int  # the events kept (the reader's ``size``)
    trials: dict[str, dict[str, Any]]
    epochs: EpochColumns
    search_status: str | None = None
    last_start: dict[str, Any] | None = None
    last_end: dict[str, Any] | None = None
    unknown: dict[str, int] = field(default_factory=dict)


def path_for(log_path: Path) -> Path:
    """Where the checkpoint of ``log_path`` is kept: a hidden file beside it."""
    return log_path.with_name(f".{log_path.name}.checkpoint.npz")


def stamp(log_path: Path, inode: int, offset: int) -> tuple[int, int] | None:
    """The crc32s of the log's first and last ``STAMP_BYTES`` before ``offset``; None when
    the file is not (or no longer) that inode, or shorter than ``offset``."""
    try:
        with open(log_path, "rb") as handle:
            status = os.fstat(handle.fileno())
            if status.st_ino != inode or status.st_size < offset:
                return None
            head = handle.read(min(STAMP_BYTES, offset))
            start = max(0, offset - STAMP_BYTES)
            handle.seek(start)
            tail = handle.read(offset - start)
    except OSError:
        return None
    if len(tail) != offset - start:
        return None
    return zlib.crc32(head), zlib.crc32(tail)


def save(log_path: Path, state: LogState) -> bool:
    """Write ``state`` as the checkpoint of ``log_path``; False (logged at debug) when it
    could not be written: a full disk (or one it would leave with less than
    ``KEEP_FREE_BYTES``), a read-only folder, the log replaced meanwhile."""
    target = path_for(log_path)
    crcs = stamp(log_path, state.inode, state.offset)
    if crcs is None:
        return False
    uniques = list(dict.fromkeys(state.epochs.ids))
    code_of = {trial_id: code for code, trial_id in enumerate(uniques)}
    arrays: dict[str, Any] = {}  # np.savez's keyword arrays
    lists: dict[str, list[Any]] = {}
    names = list(state.epochs.columns)
    for number, (name, column) in enumerate(state.epochs.columns.items()):
        if isinstance(column, array):
            arrays[f"column{number}"] = np.frombuffer(column, dtype=np.float64)
        else:
            lists[name] = column
    meta = {
        "name": log_path.name, "inode": state.inode, "offset": state.offset,
        "head_crc": crcs[0], "tail_crc": crcs[1], "count": state.count,
        "trials": state.trials, "search_status": state.search_status,
        "last_start": state.last_start, "last_end": state.last_end,
        "unknown": dict(state.unknown), "ids": uniques, "names": names, "lists": lists,
    }
    partial = leftovers.temporary_file(target)
    try:
        text = json.dumps(meta, check_circular=False).encode("utf-8")
        codes = np.fromiter((code_of[t] for t in state.epochs.ids), dtype=np.int32,
                            count=len(state.epochs.ids))
        leftovers.remove_stale(target.parent, target.name)  # a killed save's temporary
        size = len(text) + codes.nbytes + sum(column.nbytes for column in arrays.values())
        if diskspace.free_bytes(target.parent) < size + KEEP_FREE_BYTES:
            log.debug("trial log checkpoint not saved for %s: the disk is nearly full",
                      log_path)
            return False
        mode = os.stat(log_path).st_mode & 0o777  # readable by whom the log is
        with open(partial, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            arrays.update(version=np.array(FORMAT_VERSION), codes=codes,
                          meta=np.frombuffer(text, dtype=np.uint8))
            np.savez(handle, **arrays)
        os.replace(partial, target)
    except Exception as error:  # a cache, saved in a page's read: it must never fail one
        # (a full disk or a read-only folder: OSError; a value JSON cannot hold: TypeError)
        log.debug("trial log checkpoint not saved for %s: %s", log_path, error)
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        return False
    return True


def load(log_path: Path) -> LogState | None:
    """The checkpoint of ``log_path`` when it is whole, of this format and stamped with the
    log as it is now; None otherwise (the reader replays the log)."""
    target = path_for(log_path)
    try:
        with np.load(target, allow_pickle=False) as kept:
            if int(kept["version"]) != FORMAT_VERSION:
                return None
            meta = json.loads(kept["meta"].tobytes())
            if meta["name"] != log_path.name:
                return None
            inode, offset = int(meta["inode"]), int(meta["offset"])
            if stamp(log_path, inode, offset) != (meta["head_crc"], meta["tail_crc"]):
                return None
            uniques: list[str] = meta["ids"]
            codes = kept["codes"]
            rows = len(codes)
            if rows and (codes.min() < 0 or codes.max() >= len(uniques)):
                return None
            trials: dict[str, dict[str, Any]] = meta["trials"]
            if not isinstance(trials, dict) or not isinstance(meta["unknown"], dict):
                return None
            columns: dict[str, array[float] | list[Any]] = {}
            for number, name in enumerate(meta["names"]):
                if name in meta["lists"]:
                    values: array[float] | list[Any] = meta["lists"][name]
                else:
                    values = array("d")
                    values.frombytes(kept[f"column{number}"].astype(np.float64).tobytes())
                if len(values) != rows:
                    return None
                columns[name] = values
    except FileNotFoundError:
        return None
    except Exception as error:  # torn, damaged or of another layout: replay instead (a
        # damaged array header alone raises from numpy's parser, tokenize's or ast's errors)
        log.debug("trial log checkpoint of %s not used: %s", log_path, error)
        return None
    ids = [uniques[code] for code in codes.tolist()]
    return LogState(
        inode=inode, offset=offset, count=int(meta["count"]), trials=trials,
        epochs=EpochColumns.restored(ids, columns), search_status=meta["search_status"],
        last_start=meta["last_start"], last_end=meta["last_end"], unknown=meta["unknown"])

