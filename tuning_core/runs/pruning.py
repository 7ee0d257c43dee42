"""Disk: keep checkpoints of the top-k trials only, and report a run's bytes.

KerasTuner writes a weights checkpoint for every trial and never deletes one
(keras-tuner issues 288 and 481). This works from the ``trial.json`` files alone,
so the Runs page can prune an old run without building a tuner.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from tuning_core.core.states import Direction

CHECKPOINT_NAMES = ("checkpoint.weights.h5", "checkpoint")


@dataclass
class PruneResult:
    """Which trials kept their checkpoint, which lost it, and the bytes freed."""

    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0


def _trial_records(project_dir: Path) -> list[dict]:
    records = []
    for path in sorted(project_dir.glob("trial_*/trial.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a half-written trial.json belongs to a trial still being saved
        record["_dir"] = path.parent
        records.append(record)
    return records


def checkpoints_best_first(project_dir: str | Path, direction: str) -> list[dict]:
    """KerasTuner's completed trial records with a finite score, best first (what to keep)."""
    usable = [r for r in _trial_records(Path(project_dir))
              if r.get("status") == "COMPLETED" and _finite(r.get("score"))]
    return sorted(usable, key=lambda r: r["score"],
                  reverse=Direction.of(direction).higher_is_better)


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def prune_checkpoints(project_dir: str | Path, keep_top: int, direction: str) -> PruneResult:
    """Delete every trial checkpoint but those of the ``keep_top`` best completed trials."""
    project_dir = Path(project_dir)
    keep = {str(r["_dir"]) for r in checkpoints_best_first(project_dir, direction)[:keep_top]}
    result = PruneResult()
    for record in _trial_records(project_dir):
        trial_id = str(record.get("trial_id"))
        if str(record["_dir"]) in keep:
            result.kept.append(trial_id)
            continue
        freed = _remove_checkpoints(record["_dir"])
        if freed:
            result.removed.append(trial_id)
            result.bytes_freed += freed
    return result


def _remove_checkpoints(trial_dir: Path) -> int:
    freed = 0
    for name in CHECKPOINT_NAMES:
        path = trial_dir / name
        if path.is_file():
            freed += path.stat().st_size
            path.unlink()
    return freed


def checkpoint_count(project_dir: str | Path) -> int:
    """How many trial checkpoints a KerasTuner project folder holds."""
    return sum(1 for name in CHECKPOINT_NAMES for _ in Path(project_dir).glob(f"trial_*/{name}"))


def folder_bytes(path: str | Path) -> int:
    """Total size in bytes of the files below ``path`` (0 when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
