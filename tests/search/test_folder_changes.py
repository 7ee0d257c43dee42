"""A data folder edited under a run (issue 27), through the jobs that read it: a resume and a
retrain the folder no longer allows are refused before they start, in one line, by the job
registry and the command line alike; one it allows goes on without what is gone, follows
what was renamed, never uses what was added, and writes down what it did, which the retrain's
evaluation, the health check and the report then say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_image_folder
from tuning_core.core.errors import DatasetError
from tuning_core.data.dataset import ImageConfig, Split
from tuning_core.jobs.registry import JobRegistry
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.search import lifecycle
from tuning_core.space.presets import get_preset

ROOT = Path(__file__).resolve().parents[2]


def _started_run(tmp_path: Path, classes: dict[str, int]) -> tuple[RunDir, Split]:
    """A run whose first start fixed its split (stamps included), killed before a trial."""
    data = write_image_folder(tmp_path / "images", classes, size=16)
    config = RunConfig(data_dir=str(data), space=get_preset("small"),
                       image=ImageConfig(16, "rgb"),
                       tuner=TunerSettings(tuner="random", max_trials=1, epochs=1, patience=0))
    run = RunDir.create(tmp_path / "runs", config)
    return run, lifecycle.load_or_make_split(run)


def test_a_resume_and_a_retrain_the_folder_no_longer_allows_are_refused_up_front(
        tmp_path: Path) -> None:
    run, split = _started_run(tmp_path, {"cats": 6, "dogs": 6})
    for path, label in split.train:
        if label == 1:
            (Path(split.root) / path).unlink()
    registry = JobRegistry(run.path.parent)
    for start in (lambda: registry.resume(run.path),
                  lambda: registry.start_retrain(run.path, epochs=1)):
        with pytest.raises(DatasetError, match="class 'dogs' has no training image left"):
            start()
    assert registry.active_run() is None and run.holder() is None
    assert not run.log_path.exists()  # nothing started, nothing logged
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    for command in ("resume", "best"):
        result = subprocess.run([sys.executable, "-m", "tuning_core", command, str(run.path)],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), (command, lines)
        assert "images are gone since the search" in lines[0] and "'dogs'" in lines[0]


def _png(path: Path, value: int) -> None:
    Image.fromarray(np.full((16, 16, 3), value, dtype=np.uint8)).save(path)


@pytest.mark.training
def test_a_resume_retrain_health_check_and_report_of_an_edited_folder(tmp_path: Path) -> None:
    from tuning_core.model.best import retrain_best
    from tuning_core.model.health import check_run
    from tuning_core.model.report import report_html

    run, split = _started_run(tmp_path, {"cats": 12, "dogs": 12})
    root = Path(split.root)
    gone, renamed, corrupt = (p for p, _ in split.train[:3])
    (root / gone).unlink()
    os.rename(root / renamed, root / renamed.replace(".png", "-renamed.png"))
    (root / corrupt).write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    (root / split.test[0][0]).unlink()
    _png(root / "cats" / "new.png", 40)

    assert lifecycle.run_search(run.path).value == "finished"
    start = json.loads(run.log_path.read_text().splitlines()[0])
    changes = start["data_changes"]
    assert changes["used"]["train"] == [len(split.train) - 2, len(split.train)]
    assert sorted(changes["left_out"]) == sorted([gone, corrupt, split.test[0][0]])
    assert changes["counts"] == {"gone": 2, "renamed": 1, "corrupt": 1, "added": 1}
    assert run.reader().trials()["status"].tolist() == ["completed"]

    evaluation = retrain_best(run.path, epochs=2)
    assert evaluation["test_images"] == len(split.test) - 1
    assert evaluation["data_changes"]["used"]["test"] == [len(split.test) - 1, len(split.test)]
    assert "cats/new.png" not in json.dumps(evaluation)  # what was added is never used

    report = check_run(run.path, folds=2, epochs=1)
    assert report.images == len(split.train) + len(split.val) + len(split.test) - 3
    assert "2 of 24 images are gone since the search" in report.data_changes
    assert "The health check goes on with" in report.data_changes

    html = report_html(run.path)
    assert "The folder now: 2 of 24 images are gone since the search" in html
    assert "At the last resume: " in html and "At the retrain: " in html
