"""Checkpoint pruning keeps the top-k completed trials' checkpoints, from trial.json alone."""

from __future__ import annotations

import json
from pathlib import Path

from tuning_core.runs.pruning import (
    checkpoint_count,
    checkpoints_best_first,
    folder_bytes,
    prune_checkpoints,
)


def _fake_project(root: Path, scores: dict[str, float | None], status: str = "COMPLETED") -> Path:
    for trial_id, score in scores.items():
        trial_dir = root / f"trial_{trial_id}"
        trial_dir.mkdir(parents=True)
        (trial_dir / "trial.json").write_text(json.dumps(
            {"trial_id": trial_id, "score": score,
             "status": status if score is not None else "FAILED"}))
        (trial_dir / "checkpoint.weights.h5").write_bytes(b"x" * 100)
    return root


def test_keeps_top_k_by_direction(tmp_path: Path) -> None:
    project = _fake_project(tmp_path / "p",
                            {"00": 0.5, "01": 0.9, "02": 0.7, "03": None, "04": 0.1})
    result = prune_checkpoints(project, keep_top=2, direction="max")
    assert sorted(result.kept) == ["01", "02"]
    assert sorted(result.removed) == ["00", "03", "04"]
    assert result.bytes_freed == 300
    assert checkpoint_count(project) == 2


def test_min_direction_keeps_lowest(tmp_path: Path) -> None:
    project = _fake_project(tmp_path / "p", {"00": 0.5, "01": 0.9, "02": 0.1})
    prune_checkpoints(project, keep_top=1, direction="min")
    assert [p.parent.name for p in project.glob("*/checkpoint.weights.h5")] == ["trial_02"]
    assert [r["trial_id"] for r in checkpoints_best_first(project, "min")] == ["02", "00", "01"]


def test_half_written_trial_json_is_left_alone(tmp_path: Path) -> None:
    project = _fake_project(tmp_path / "p", {"00": 0.5})
    broken = project / "trial_01"
    broken.mkdir()
    (broken / "trial.json").write_text("{half")
    (broken / "checkpoint.weights.h5").write_bytes(b"x")
    prune_checkpoints(project, keep_top=1, direction="max")
    assert (broken / "checkpoint.weights.h5").exists()


def test_folder_bytes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"12345")
    assert folder_bytes(tmp_path) == 5
    assert folder_bytes(tmp_path / "missing") == 0
