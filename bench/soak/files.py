"""The soak's file checks and its small disk.

``unreadable_files`` opens every JSON, JSONL and SQLite file of a run and its workspace
through the reader the product uses for it (``RunDir.config``, ``notes``, ``load_split``,
``best_json``, ``trial_record``, the trial log reader, ``JobQueue``, ``UserStore``), and plain
``json`` for the rest; what fails is named with its error. ``SmallDisk`` mounts a tmpfs for
the run folder so the disk-full fault fills a real filesystem, and ``fill`` takes all of it
but a little, as another program would.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuning_core.core.workspace import QUEUE_FILE
from tuning_core.jobs.queue import JobQueue
from tuning_core.lab.accounts import UserStore
from tuning_core.runs.rundir import NOTES_FILE, RUN_FILE, SPLIT_FILE, RunDir

SKIP_DIRS = ("cache",)  # decoded-image caches are not the product's records


def unreadable_files(workspace: Path, runs: list[Path]) -> list[str]:
    """Every record of ``runs`` and ``workspace`` that its reader cannot read, as
    "<path>: <error>" lines (empty when all read)."""
    bad: list[str] = []
    checked: set[Path] = set()
    for run_path in runs:
        run = RunDir(run_path)
        named: dict[str, Callable[[], Any]] = {
            RUN_FILE: lambda run=run: RunDir(run.path).config(),  # a fresh, uncached read
            NOTES_FILE: run.notes, SPLIT_FILE: run.load_split}
        for name, read in named.items():
            path = run.file(name)
            if path.exists():
                _try(path, read, bad)
                checked.add(path)
        for path in sorted(run.best_dir.glob("*.json")) if run.best_dir.is_dir() else []:
            _try(path, lambda path=path, run=run: run.best_json(path.name), bad)
            checked.add(path)
        for path in sorted(run.project_dir.glob("trial_*/trial.json")):
            _try(path, lambda path=path, run=run: run.trial_record(path.parent.name[6:]), bad)
            checked.add(path)
    queue = workspace / QUEUE_FILE
    if queue.exists():
        _try(queue, lambda: _read_queue(queue), bad)
    users = workspace / "lab" / "users.json"
    if users.exists():
        _try(users, lambda: UserStore(users).users(), bad)
        checked.add(users)
    for path in sorted(_records(workspace)):
        if path not in checked:
            _try(path, lambda path=path: _read_plain(path), bad)
    return bad


def _records(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        found += [Path(folder) / f for f in files if f.endswith((".json", ".jsonl"))]
    return found


def _read_queue(path: Path) -> None:
    JobQueue(path).jobs(include_done=True)
    with sqlite3.connect(path) as conn:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        raise ValueError(f"integrity check: {result}")


def _read_plain(path: Path) -> None:
    text = path.read_text()
    if path.suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    json.loads(line)
                except ValueError as error:
                    raise ValueError(f"line {n}: {error}") from None
    else:
        json.loads(text)


def _try(path: Path, read: Callable[[], Any], bad: list[str]) -> None:
    try:
        read()
    except Exception as error:  # any failure to read is the finding
        bad.append(f"{path}: {type(error).__name__}: {str(error)[:120]}")


class SmallDisk:
    """A tmpfs mounted on ``path`` (root only); ``fill`` leaves ``keep`` bytes free."""

    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs",
                                 str(path)], capture_output=True, text=True, check=False)
        if result.returncode:
            raise OSError(f"cannot mount a {size_mb} MB tmpfs on {path} (the disk-full fault "
                          f"needs root): {result.stderr.strip()}")
        self.filler = path / "filler"

    def fill(self, keep: int = 600_000) -> int:
        """Take all the free space but ``keep`` bytes; returns the filler's size."""
        with open(self.filler, "wb") as handle:
            size = max(0, shutil.disk_usage(self.path).free - keep)
            handle.truncate(size)
            os.posix_fallocate(handle.fileno(), 0, max(1, size))
        return size

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)
