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
import math
import os
import zlib
from array import array
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, cast

import numpy as np

from tuning_core.core import diskspace, leftovers
from tuning_core.runs.epochcolumns import EpochColumns

FORMAT_VERSION = 2  # bump whenever replay semantics or this layout change
STAMP_BYTES = 4096  # the crc32s cover this much at the log's start and before the offset
KEEP_FREE_BYTES = 1 << 30  # a checkpoint is not written where it would leave less free: it
# is a cache (about a third of its log's size), and a disk's last space is for the searches
# that write there (trial checkpoints, the log's own lines)
log = logging.getLogger(__name__)
NONE = type(None)
# the trial columns kept as arrays: their values' types (None aside) and the array's
ARRAY_KINDS = {frozenset({float}): "float64", frozenset({int}): "int64"}


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
        "trials": _pack_rows(state.trials, arrays), "search_status": state.search_status,
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
            trials = _unpack_rows(meta["trials"], kept)
            if not isinstance(meta["unknown"], dict):
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



def _pack_rows(trials: dict[str, dict[str, Any]], arrays: dict[str, Any]) -> dict[str, Any]:
    """The trial rows as columns (JSON of their floats was most of a save's time: 0.4 s at
    50,000 trials). Rows share a few lists of column names (their order kept: a frame's
    columns follow it); the rows of each are kept as its columns: one of floats (or of ints)
    and None in ``arrays`` as float64 (int64) with the rows of its Nones, any other as a JSON
    list. What it returns (JSON) and ``arrays`` give :func:`_unpack_rows` the rows back."""
    rows = list(trials.values())
    shapes: dict[tuple[str, ...], int] = {}
    codes = [shapes.setdefault(tuple(row), len(shapes)) for row in rows]
    members: list[list[dict[str, Any]]] = [[] for _ in shapes]
    for row, code in zip(rows, codes, strict=True):
        members[code].append(row)
    kept = []
    for code, group in enumerate(members):
        columns: list[str | list[Any]] = []  # an array's kind, or the values
        for number, column in enumerate(zip(*(row.values() for row in group), strict=True)):
            columns.append(_pack_column(column, f"{code}_{number}", arrays))
        kept.append(columns)
    arrays["trialshape"] = np.array(codes, dtype=np.int32)
    return {"keys": list(trials), "shapes": [list(shape) for shape in shapes],
            "columns": kept}


def _pack_column(column: tuple[Any, ...], name: str, arrays: dict[str, Any]) -> str | list[Any]:
    types = set(map(type, column))
    kind = ARRAY_KINDS.get(frozenset(types - {NONE}))
    if kind is not None:
        nones = [i for i, v in enumerate(column) if v is None] if NONE in types else []
        values = list(column)
        for row in nones:
            values[row] = math.nan if kind == "float64" else 0
        try:
            arrays[f"trial{name}"] = np.array(values, dtype=kind)
        except OverflowError:  # an int past int64's range: kept as JSON
            return list(column)
        arrays[f"trialnull{name}"] = np.array(nones, dtype=np.int32)
        return kind
    return list(column)


def _unpack_rows(packed: dict[str, Any], kept: Any) -> dict[str, dict[str, Any]]:
    """The rows :func:`_pack_rows` kept (``kept``: the loaded archive); an error when its
    parts do not fit together."""
    keys: list[str] = packed["keys"]
    shape_of = kept["trialshape"]
    if len(shape_of) != len(keys):
        raise ValueError("the trial rows do not fit their keys")
    rows: list[dict[str, Any] | None] = [None] * len(keys)
    for code, (shape, entries) in enumerate(zip(packed["shapes"], packed["columns"],
                                                strict=True)):
        where = np.flatnonzero(shape_of == code).tolist()
        columns = [_unpack_column(entry, f"{code}_{number}", kept)
                   for number, entry in enumerate(entries)]
        if len(columns) != len(shape) or any(len(c) != len(where) for c in columns):
            raise ValueError("a trial column does not fit its rows")
        tuples = zip(*columns, strict=True) if columns else repeat((), len(where))
        for row, values in zip(where, tuples, strict=True):
            rows[row] = dict(zip(shape, values, strict=True))
    if any(row is None for row in rows):
        raise ValueError("a trial row is missing")
    return dict(zip(keys, cast(list[dict[str, Any]], rows), strict=True))


def _unpack_column(entry: str | list[Any], name: str, kept: Any) -> list[Any]:
    if isinstance(entry, list):
        return entry
    values = kept[f"trial{name}"]
    if values.dtype != np.dtype(entry):
        raise ValueError("a trial column is not of its kind")
    column: list[Any] = values.tolist()
    for row in kept[f"trialnull{name}"].tolist():
        column[row] = None
    return column
