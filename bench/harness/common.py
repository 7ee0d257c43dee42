"""Shared benchmark helpers: the sample data and its held-out files, timing, memory, results.

Nothing here trains. Every figure module returns a :class:`FigureResult`, written as JSON
by its own process and gathered by ``bench/__main__.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "out"  # bench/out, beside bench/results.md
HOLDOUT_FRACTION = 0.15


def quiet_tensorflow() -> None:
    """Keep TensorFlow's start-up chatter out of the benchmark output."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@dataclass
class FigureResult:
    """One figure: its goal, the headline measurement, whether the goal is met, and details."""

    number: int
    title: str
    goal: str
    value: str
    met: bool | None  # None: the figure informs a choice and has no pass/fail goal
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FigureResult:
        return cls(**data)


def median(values: list[float]) -> float:
    """The median of a non-empty list (ValueError when empty)."""
    if not values:
        raise ValueError("median of an empty list")
    return float(statistics.median(values))


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed:``; ``elapsed()`` gives the seconds so far (frozen at exit)."""
    start, end = time.perf_counter(), None

    def elapsed() -> float:
        return (end or time.perf_counter()) - start

    try:
        yield elapsed
    finally:
        end = time.perf_counter()


def _status_mb(field_name: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (VmHWM), in MiB; 0 where unknown."""
    return _status_mb("VmHWM")


def rss_mb() -> float:
    """Resident memory of this process now (VmRSS), in MiB; 0 where unknown."""
    return _status_mb("VmRSS")


def digits_dir(root: Path = OUT / "data") -> Path:
    """The sample digits (32x32 PNG class folders), written once under ``root``."""
    from tuning_core.data.sample import write_digits

    return write_digits(root / "digits")


def _files_by_class(folder: Path) -> dict[str, list[Path]]:
    return {d.name: sorted(p for p in d.iterdir() if p.is_file())
            for d in sorted(folder.iterdir()) if d.is_dir()}


def hold_out(source: Path, dest: Path, fraction: float = HOLDOUT_FRACTION,
             seed: int = 0) -> tuple[Path, Path]:
    """Copy a stratified, seeded ``fraction`` of each class to ``dest/holdout`` and the rest to
    ``dest/train``; returns (train folder, holdout folder). Neither tool ever sees the holdout."""
    train, holdout = dest / "train", dest / "holdout"
    if holdout.is_dir() and train.is_dir():
        return train, holdout
    for name, files in _files_by_class(source).items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        order = [files[i] for i in rng.permutation(len(files))]
        keep = max(1, round(len(files) * fraction))
        for part, chosen in ((holdout, order[:keep]), (train, order[keep:])):
            (part / name).mkdir(parents=True, exist_ok=True)
            for path in chosen:
                shutil.copy2(path, part / name / path.name)
    return train, holdout


def labelled_files(folder: Path) -> tuple[list[tuple[str, int]], list[str]]:
    """(relative path, class index) of every file in a class-folder tree, and the classes."""
    by_class = _files_by_class(folder)
    classes = list(by_class)
    items = [(p.relative_to(folder).as_posix(), k) for k, c in enumerate(classes)
             for p in by_class[c]]
    return items, classes


def fresh_dir(path: Path) -> Path:
    """An empty folder at ``path`` (anything there before is removed)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def run_folders(runs_dir: Path) -> list[Path]:
    """The run folders in ``runs_dir``, sorted: those RunDir says hold a run (a process
    started by a figure makes its own, and the figure finds it here)."""
    from tuning_core.runs.rundir import RunDir

    if not runs_dir.is_dir():
        return []
    return sorted(p for p in runs_dir.iterdir() if RunDir(p).is_run())


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str))
