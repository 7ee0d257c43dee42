"""Shared fixtures: small generated image folders and an isolated workspace."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest
from PIL import Image


def write_image_folder(
    root: Path,
    classes: dict[str, int] | None = None,
    size: int = 16,
    mode: str = "RGB",
    seed: int = 0,
) -> Path:
    """Write a class-per-subfolder PNG dataset whose classes are easy to tell apart.

    Class k is an image of mean brightness rising with k plus noise, so a tiny CNN
    learns it in an epoch or two.
    """
    classes = classes or {"cats": 12, "dogs": 12}
    rng = np.random.default_rng(seed)
    for k, (name, count) in enumerate(sorted(classes.items())):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        base = 40 + 160 * k / max(1, len(classes) - 1)
        for i in range(count):
            channels = 3 if mode == "RGB" else 1
            pixels = np.clip(rng.normal(base, 20, (size, size, channels)), 0, 255).astype(np.uint8)
            if mode != "RGB":
                pixels = pixels[..., 0]
            Image.fromarray(pixels, mode=mode).save(folder / f"{name}_{i:03d}.png")
    return root


@pytest.fixture(autouse=True)
def machine_slot_dir(tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> Path:
    """A training-slot folder of the test's own, so a dashboard running here cannot block it."""
    path = tmp_path_factory.mktemp("slot")
    monkeypatch.setenv("TUNING_SLOT_DIR", str(path))
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Two classes of 12 RGB 16x16 PNGs each."""
    return write_image_folder(tmp_path / "images")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace folder, set as TUNING_WORKSPACE for the test."""
    path = tmp_path / "workspace"
    path.mkdir()
    monkeypatch.setenv("TUNING_WORKSPACE", str(path))
    return path
