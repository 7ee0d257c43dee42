"""Tests for tuning_core.data.sample: the handwritten digits as PNG class folders."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuning_core.core.errors import DatasetError, SettingsError
from tuning_core.data import sample as sample_data
from tuning_core.data.dataset import scan


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_data.write_digits(tmp_path_factory.mktemp("sample") / "digits")


def test_writes_all_digits_as_class_folders(digits: Path) -> None:
    folders = sorted(p.name for p in digits.iterdir())
    assert folders == [str(d) for d in range(10)]
    pngs = list(digits.glob("*/*.png"))
    assert len(pngs) == 1797
    assert all(p.name.startswith(f"{p.parent.name}_") for p in pngs)
    assert not list(digits.rglob(".*"))  # no partial files left behind


def test_scan_reads_the_digits_quickly(digits: Path) -> None:
    started = time.perf_counter()
    summary = scan(digits)
    elapsed = time.perf_counter() - started
    assert summary.classes == [str(d) for d in range(10)]
    assert summary.num_images == 1797 and summary.skipped == []
    assert summary.color_modes == {"L": 1797}
    stats = summary.size_stats
    assert (stats.min_width, stats.max_width, stats.min_height, stats.max_height) == (32,) * 4
    assert summary.suggested_color_mode() == "grayscale"
    assert summary.suggested_image_size() == 32
    assert elapsed < 2.0, f"scan of 1,797 PNGs took {elapsed:.2f} s"


def test_digits_are_scaled_to_the_full_range(digits: Path) -> None:
    pixels = np.asarray(Image.open(digits / "0" / "0_0000.png"))
    assert pixels.shape == (32, 32) and pixels.dtype == np.uint8
    assert pixels.min() == 0 and pixels.max() > 200


def test_is_idempotent_and_repairs_missing_files(digits: Path) -> None:
    some = digits / "3" / "3_0003.png"
    before = {p: p.stat().st_mtime_ns for p in digits.glob("*/*.png")}
    some.unlink()
    assert sample_data.write_digits(digits) == digits
    after = {p: p.stat().st_mtime_ns for p in digits.glob("*/*.png")}
    assert after.keys() == before.keys()
    assert {p for p in after if after[p] != before[p]} == {some}


def test_size_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = np.zeros((3, 8, 8))
    images[:, 2:6, 2:6] = 16.0
    monkeypatch.setattr(sample_data, "_load_digits", lambda: (images, np.array([4, 7, 4])))
    root = sample_data.write_digits(tmp_path / "d", size=16)
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png")) == [
        "4/4_0000.png", "4/4_0002.png", "7/7_0001.png"]
    pixels = np.asarray(Image.open(root / "7" / "7_0001.png"))
    assert pixels.shape == (16, 16) and pixels.max() == 255 and pixels[0, 0] == 0


def test_bad_arguments(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="got a file"):
        sample_data.write_digits(tmp_path / "file")
    with pytest.raises(SettingsError, match="size"):
        sample_data.write_digits(tmp_path / "d", size=4)


def test_two_writers_at_once_both_succeed(tmp_path: Path) -> None:
    """Two sessions pressing "Use sample dataset" together must not trip over each other."""
    from concurrent.futures import ThreadPoolExecutor

    from tuning_core.data.sample import write_digits

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: write_digits(tmp_path / "digits"), range(2)))
    assert results[0] == results[1]
    assert len(list((tmp_path / "digits").rglob("*.png"))) == 1797
    assert not list((tmp_path / "digits").rglob("*.partial"))
