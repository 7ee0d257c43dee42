"""A health check the disk cannot hold is refused before it trains, in one line (issue 27), on
a real small tmpfs; its fold models live in memory, so only its report is measured."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import write_image_folder
from tuning_core.core.errors import DiskFullError
from tuning_core.data.dataset import ImageConfig
from tuning_core.model import health
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.search import lifecycle
from tuning_core.space.presets import get_preset


def test_a_health_check_the_disk_cannot_hold_is_refused_before_it_trains(
        tmp_path: Path, small_disk: Callable[[str], Path]) -> None:
    data = write_image_folder(tmp_path / "images", {"a": 200, "b": 200}, size=8)
    disk = small_disk("1m")
    config = RunConfig(data_dir=str(data), space=get_preset("small"),
                       image=ImageConfig(8, "rgb"), tuner=TunerSettings(tuner="random"))
    run = RunDir.create(disk / "runs", config)
    lifecycle.load_or_make_split(run)
    with pytest.raises(DiskFullError) as refused:
        health.check_run(run.path, folds=2, epochs=1)
    message = str(refused.value)
    assert message.startswith("disk full: ") and f"free on {disk}" in message
    assert "this health check needs about" in message and "the health report" in message
    assert not run.health_dir.exists()
    with pytest.raises(DiskFullError):
        health.start_health(run.path)  # the page's start refuses in the request, not later
