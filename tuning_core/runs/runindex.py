"""A run's summary index, ``index.json``: what the Runs page lists, without replaying the log.

Why: listing 1,000 runs replayed every trial log and parsed every ``run.json`` (5 s warm and
13.6 s on a fresh server here, twice per Runs page run). The index holds the headline of a
run (settings the list shows, the log's search status, trials ended, best score, disk size)
and the stamps (modification time, size) of the log and ``run.json`` it was read at; it is
current while both stamps hold, so a list reads one small file per run, and nothing but two
stat calls for a run this process has seen (``catalogue.RunIndexes``). Whoever finds it stale
(a search logged since) writes it again after one replay of that run's log; a workspace
that cannot be written to still lists, only slower.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from tuning_core.core import atomic
from tuning_core.core.states import RunStatus, SearchEnd

INDEX_FILE = "index.json"
INDEX_VERSION = 1
Stamp = tuple[int, int] | None  # (mtime_ns, size) of a file (rundir.file_stamp), or None


def logged_status(search_status: str | None) -> RunStatus:
    """The status a search log alone gives: a start without an end is interrupted."""
    if search_status is None:
        return RunStatus.NEW
    if search_status == "running":
        return RunStatus.INTERRUPTED
    return RunStatus.from_end(SearchEnd.parse(search_status))


@dataclass(frozen=True)
class RunIndex:
    """A run's headline as of its log's and its ``run.json``'s stamps."""

    log: Stamp
    config: Stamp
    name: str
    owner: str
    tuner: str
    objective: str
    max_trials: int
    created: float
    dataset: str
    search_status: str | None
    trials_done: int
    best_score: float | None
    bytes: int | None = None  # the folder's size when last walked (None: never)

    def current(self, log: Stamp, config: Stamp) -> bool:
        """True while the files it was read from are as they were."""
        return self.log == log and self.config == config

    def to_dict(self) -> dict[str, Any]:
        return {"version": INDEX_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunIndex | None:
        """The index in ``data``, or None when it is of another version or not whole."""
        if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
            return None
        try:
            values = {f.name: data[f.name] for f in fields(cls)}
        except KeyError:
            return None
        for stamp in ("log", "config"):
            values[stamp] = tuple(values[stamp]) if values[stamp] is not None else None
        return cls(**values)

    def with_bytes(self, size: int) -> RunIndex:
        return replace(self, bytes=size)


def read_index(run_dir: Path) -> RunIndex | None:
    """The index saved in ``run_dir``, or None (none yet, unreadable, another version)."""
    try:
        return RunIndex.from_dict(json.loads((run_dir / INDEX_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_index(run_dir: Path, index: RunIndex) -> None:
    """Save ``index`` (atomically); a folder that cannot be written keeps its old one."""
    with contextlib.suppress(OSError):  # read-only: the next list reads the log again
        atomic.write_json(run_dir / INDEX_FILE, index.to_dict(), indent=None)
