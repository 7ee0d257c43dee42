"""What a search or a retrain will write, estimated before it starts, and the refusal in one
line when the disk cannot hold it (issue 27).

A full disk found an hour into a search costs the hour; found before the start it costs a
sentence. The estimate is an upper bound from the settings alone (no model is built): the
largest model the space allows, as a checkpoint holds it (weights and the optimizer's two
moments), times the checkpoints alive at once, plus the decoded-image cache when the images
do not fit in memory, plus the logs. The search itself still measures before each write
(:mod:`tuning_core.search.checkpoints`), since other programs share the disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tuning_core.core import diskspace
from tuning_core.core.errors import DiskFullError
from tuning_core.data.dataset import IMAGE_EXTENSIONS
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig
from tuning_core.space.backbones import BACKBONES, NONE
from tuning_core.space.schema import FLATTEN_MAX_FEATURES, SearchSpace

CHECKPOINT_FACTOR = 3  # a checkpoint holds the weights and Adam's two moments per weight
CHECKPOINT_OVERHEAD = 64 * 1024  # HDF5's own structure, per file
BACKBONE_FEATURES = 2048  # the widest pooled output of the pretrained backbones offered
MEMORY_BUDGET = 2048 * 2**20  # decoded images above this go to a cache file (prepare_data)
LOG_BYTES_PER_EPOCH = 400  # one epoch_end line
LOG_BYTES_PER_TRIAL = 16 * 1024  # its start and end lines, cost line, KerasTuner's trial.json


@dataclass(frozen=True)
class DiskNeed:
    """One thing a job writes and about how many bytes it takes."""

    what: str
    bytes: int

    def describe(self) -> str:
        return f"{self.what} {diskspace.megabytes(self.bytes)}"


def largest_parameters(space: SearchSpace, image_size: int, channels: int,
                       num_classes: int) -> int:
    """An upper bound on the parameters of any model the space builds (hypermodel.py):
    every block at its widest, the head at its largest input."""
    features, params = 0, 0
    if NONE in space.backbone.choices:
        c_in, widest = channels, channels
        for block in space.conv[:space.conv_blocks.max]:
            f, k = max(block.filters), max(block.kernel_sizes)
            params += k * k * c_in * f + f + 4 * f  # kernel, bias, batch norm
            c_in, widest = f, max(widest, f)
        features = max(FLATTEN_MAX_FEATURES, widest)  # flattened only up to that size
    for name in space.backbone.names:
        params = max(params, BACKBONES[name].params)
        features = max(features, BACKBONE_FEATURES)
    for dense in space.dense[:space.dense_blocks.max]:
        units = max(dense.units)
        params += features * units + units
        features = units
    return params + features * num_classes + num_classes


def checkpoint_bytes(parameters: int) -> int:
    """The size of one checkpoint of a model with ``parameters`` float32 weights."""
    return parameters * 4 * CHECKPOINT_FACTOR + CHECKPOINT_OVERHEAD


def search_needs(config: RunConfig, images: int, classes: int,
                 checkpoints_now: int = 0) -> list[DiskNeed]:
    """What the search of ``config`` writes on ``images`` images of ``classes`` classes;
    ``checkpoints_now``: checkpoints a resumed run already holds (already on the disk)."""
    tuner, side = config.tuner, config.image.image_size
    one = checkpoint_bytes(largest_parameters(config.space, side, config.image.channels,
                                              max(2, classes)))
    # keep-top survivors, the trial in progress, and the new file beside the old one while
    # it is put in place; Hyperband keeps every trial's until the end
    alive = tuner.max_trials + 1 if tuner.tuner == "hyperband" else tuner.keep_top + 2
    needs = [DiskNeed(f"checkpoints ({alive} at most)", one * max(2, alive - checkpoints_now))]
    decoded = side * side * config.image.channels
    cached = sum(n * decoded for n in (round(images * config.split.train * config.split.subset),
                                       round(images * config.split.val))
                 if n * decoded > MEMORY_BUDGET)
    if cached:
        needs.append(DiskNeed("the decoded-image cache", cached))
    logs = tuner.max_trials * (LOG_BYTES_PER_TRIAL + tuner.epochs * LOG_BYTES_PER_EPOCH)
    needs.append(DiskNeed("logs", logs + diskspace.RESERVE_BYTES))
    return needs


def check(needs: list[DiskNeed], where: str | Path, job: str) -> None:
    """DiskFullError, in one line, when the disk under ``where`` cannot hold ``needs``."""
    total = sum(need.bytes for need in needs)
    free = diskspace.free_bytes(where)
    if free >= total:
        return
    base = diskspace.full_error(where, total, job)
    detail = ", ".join(need.describe() for need in needs)
    raise DiskFullError(f"{base} ({detail}); free space there or use another runs folder.",
                        base.free_bytes, base.filesystem, total)


def check_search(config: RunConfig, runs_dir: str | Path, run: RunDir | None = None) -> None:
    """Refuse a new search (or the resume of ``run``) that the disk cannot hold."""
    images, classes = _counts(config, run)
    held = len(list(run.project_dir.glob("trial_*/*.weights.h5"))) if run is not None else 0
    where = run.path if run is not None else Path(runs_dir)
    check(search_needs(config, images, classes, held), where, "this search")


def check_retrain(run: RunDir) -> None:
    """Refuse a retrain that the disk cannot hold: the new best model is about the size of
    the largest checkpoint, written beside the old one until it takes its place, and the
    training and test images may need a cache file."""
    ckpts = [p.stat().st_size for p in run.project_dir.glob("trial_*/*.weights.h5")]
    config = run.config()
    images, _ = _counts(config, run)
    decoded = config.image.image_size ** 2 * config.image.channels
    needs = [DiskNeed("the best model", 2 * max(ckpts, default=CHECKPOINT_OVERHEAD))]
    cached = sum(n * decoded for n in (round(images * config.split.train),
                                       round(images * config.split.test))
                 if n * decoded > MEMORY_BUDGET)
    if cached:
        needs.append(DiskNeed("the decoded-image cache", cached))
    needs.append(DiskNeed("logs", diskspace.RESERVE_BYTES))
    check(needs, run.path, "this retrain")


def _counts(config: RunConfig, run: RunDir | None) -> tuple[int, int]:
    """Images and classes: from the run's saved split, else counted in the data folder
    (file names only: nothing is decoded here)."""
    split = run.load_split() if run is not None else None
    if split is not None:
        files = sum(len(split.get(part) or []) for part in ("train", "val", "test"))
        return files, len(split.get("classes") or [])
    images, classes = 0, 0
    for folder in _subfolders(config.data_dir):
        classes += 1
        for _, _, names in os.walk(folder):
            images += sum(name.lower().endswith(IMAGE_EXTENSIONS) for name in names)
    return images, classes


def _subfolders(path: str) -> list[str]:
    try:
        return [entry.path for entry in os.scandir(path) if entry.is_dir()]
    except OSError:
        return []  # an unreadable folder is the data check's to report, not this estimate's
