"""The disk a search or a retrain needs, estimated from its settings before it starts."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import keras_tuner as kt
import pytest

from tuning_core.core import diskspace
from tuning_core.core.errors import DiskFullError
from tuning_core.data.dataset import ImageConfig
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.search import diskneeds
from tuning_core.search.hypermodel import CNNHyperModel
from tuning_core.space.presets import get_preset

Usage = namedtuple("Usage", "total used free")


def _config(data: Path, **tuner: object) -> RunConfig:
    return RunConfig(data_dir=str(data), space=get_preset("small"),
                     image=ImageConfig(16, "rgb"),
                     tuner=TunerSettings(**{"tuner": "random", "max_trials": 4, **tuner}))


def _free(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    monkeypatch.setattr(diskspace.shutil, "disk_usage", lambda path: Usage(10**9, 0, free))


@pytest.mark.parametrize("size", [16, 64])
def test_the_bound_holds_for_every_model_the_space_builds(size: int) -> None:
    space = get_preset("small")
    bound = diskneeds.largest_parameters(space, size, 3, 10)
    hypermodel = CNNHyperModel(space, size, 3, 10)
    oracle_space = kt.HyperParameters()
    hypermodel.build(oracle_space)  # registers every hyperparameter
    largest = 0
    for seed in range(12):
        hp = kt.HyperParameters()
        hp.merge(oracle_space)
        for item in oracle_space.space:
            hp.values[item.name] = item.random_sample(seed)
        largest = max(largest, hypermodel.build(hp).count_params())
    assert largest <= bound < 50 * largest  # an upper bound, not a wild one


def test_hyperband_keeps_every_checkpoint_and_a_resume_counts_those_held(
        image_folder: Path) -> None:
    plain = diskneeds.search_needs(_config(image_folder, keep_top=3), 24, 2)[0]
    hyperband = diskneeds.search_needs(
        _config(image_folder, tuner="hyperband", max_trials=20), 24, 2)[0]
    assert hyperband.bytes == plain.bytes * 21 // 5
    resumed = diskneeds.search_needs(_config(image_folder, keep_top=3), 24, 2, 3)[0]
    assert resumed.bytes == plain.bytes * 2 // 5


def test_images_too_many_for_memory_count_their_cache(image_folder: Path) -> None:
    config = _config(image_folder)
    config.image = ImageConfig(224, "rgb")
    few = diskneeds.search_needs(config, 1000, 2)
    many = diskneeds.search_needs(config, 200_000, 2)
    assert [n.what for n in few] == ["checkpoints (5 at most)", "logs"]
    cache = next(n for n in many if n.what == "the decoded-image cache")
    assert cache.bytes == (140_000 + 30_000) * 224 * 224 * 3  # the search's train, val


def test_a_search_the_disk_cannot_hold_is_refused_in_one_line(
        monkeypatch: pytest.MonkeyPatch, image_folder: Path, tmp_path: Path) -> None:
    _free(monkeypatch, 700_000)
    with pytest.raises(DiskFullError) as caught:
        diskneeds.check_search(_config(image_folder), tmp_path / "runs")
    text = str(caught.value)
    assert text.startswith("disk full: 0.7 MB free on ") and "this search needs about" in text
    assert "checkpoints (5 at most)" in text and "\n" not in text
    _free(monkeypatch, 10**9)
    diskneeds.check_search(_config(image_folder), tmp_path / "runs")


def test_a_resume_reads_its_split_and_a_retrain_its_checkpoints(
        monkeypatch: pytest.MonkeyPatch, image_folder: Path, tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "runs", _config(image_folder))
    run.save_split({"train": [["a.png", 0]] * 10, "val": [], "test": [], "classes": ["a", "b"]})
    checkpoint = run.project_dir / "trial_0" / "checkpoint.weights.h5"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"0" * 3_000_000)
    one = diskneeds.search_needs(run.config(), 10, 2)[0].bytes // 5
    _free(monkeypatch, 4 * one + diskspace.RESERVE_BYTES + 100_000)  # 4 = 5 - the one held
    diskneeds.check_search(run.config(), run.path.parent, run)
    _free(monkeypatch, 5_000_000)
    with pytest.raises(DiskFullError, match=r"the best model 6\.0 MB"):
        diskneeds.check_retrain(run)
