"""Tests for tuning_core.data.dataset: scanning folders and splitting them without leakage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_image_folder
from tuning_core.core.errors import DatasetError, SettingsError
from tuning_core.data.dataset import DatasetSummary, Split, SplitConfig, scan, split_files


def _png_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "valid.png"
    Image.fromarray(np.full((16, 16, 3), 99, np.uint8)).save(path)
    data = path.read_bytes()
    path.unlink()
    return data


def _reasons(summary: DatasetSummary) -> dict[str, str]:
    return {s.path: s.reason for s in summary.skipped}


# --- scan: a good folder ---------------------------------------------------------------


def test_scan_reports_classes_counts_sizes_and_modes(image_folder: Path) -> None:
    summary = scan(image_folder)
    assert summary.root == str(image_folder.resolve())
    assert summary.classes == ["cats", "dogs"]
    assert summary.counts == {"cats": 12, "dogs": 12}
    assert summary.num_images == 24
    assert summary.files["cats"][0] == "cats/cats_000.png"
    assert summary.files["cats"] == sorted(summary.files["cats"])
    assert summary.color_modes == {"RGB": 24}
    assert (summary.size_stats.min_width, summary.size_stats.max_height) == (16, 16)
    assert summary.skipped == []
    assert summary.suggested_image_size() == 32  # 16 is clamped up to 32
    assert summary.suggested_color_mode() == "rgb"


def test_scan_grayscale_folder_suggests_grayscale(tmp_path: Path) -> None:
    summary = scan(write_image_folder(tmp_path, {"a": 3, "b": 3}, mode="L"))
    assert summary.color_modes == {"L": 6}
    assert summary.suggested_color_mode() == "grayscale"


def test_scan_size_stats_and_suggested_size(tmp_path: Path) -> None:
    for name, sizes in {"a": [(20, 40), (60, 50)], "b": [(100, 300), (50, 52), (40, 48)]}.items():
        (tmp_path / name).mkdir()
        for i, (w, h) in enumerate(sizes):
            Image.new("RGB", (w, h)).save(tmp_path / name / f"{i}.png")
    stats = scan(tmp_path).size_stats
    assert (stats.min_width, stats.median_width, stats.max_width) == (20, 50.0, 100)
    assert (stats.min_height, stats.median_height, stats.max_height) == (40, 50.0, 300)
    assert scan(tmp_path).suggested_image_size() == 48  # 50 to a multiple of 8


def test_scan_layout_rules(tmp_path: Path) -> None:
    write_image_folder(tmp_path, {"cats": 3, "dogs": 3})
    nested = tmp_path / "dogs" / "puppies"
    nested.mkdir()
    Image.new("RGB", (16, 16)).save(nested / "p.png")
    hidden = tmp_path / "cats" / ".thumbnails"
    hidden.mkdir()
    Image.new("RGB", (16, 16)).save(hidden / "t.png")
    Image.new("RGB", (16, 16)).save(tmp_path / "cats" / ".hidden.png")
    (tmp_path / ".git").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / ".git" / "x.png")
    Image.new("RGB", (16, 16)).save(tmp_path / "stray.png")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    (tmp_path / "empty_class").mkdir()
    summary = scan(tmp_path)
    assert summary.classes == ["cats", "dogs"]
    assert "dogs/puppies/p.png" in summary.files["dogs"]
    assert summary.counts == {"cats": 3, "dogs": 4}
    assert _reasons(summary) == {"stray.png": "not in a class subfolder"}


def test_scan_accepts_jpeg_bmp_and_gif_first_frame(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.new("RGB", (16, 16), "red").save(tmp_path / "a" / "x.JPG")
    Image.new("RGB", (16, 16), "red").save(tmp_path / "a" / "y.bmp")
    Image.new("L", (16, 16), 7).save(tmp_path / "a" / "z.bmp")
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "b" / "anim.gif", save_all=True, append_images=frames[1:])
    summary = scan(tmp_path)
    assert summary.counts == {"a": 3, "b": 1}
    assert summary.color_modes == {"L": 1, "P": 1, "RGB": 2}
    assert summary.skipped == []


def test_scan_skips_bad_files_with_reasons(tmp_path: Path) -> None:
    write_image_folder(tmp_path, {"cats": 3, "dogs": 3})
    good = _png_bytes(tmp_path)
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    (tmp_path / "cats" / "README").write_text("no extension")
    (tmp_path / "cats" / "empty.png").write_bytes(b"")
    (tmp_path / "dogs" / "garbage.png").write_bytes(b"this is not a png at all" * 10)
    (tmp_path / "dogs" / "truncated.png").write_bytes(good[: len(good) // 2])
    Image.new("RGB", (16, 16)).save(tmp_path / "dogs" / "webp.png", format="WEBP")
    Image.new("1", (16, 16)).save(tmp_path / "dogs" / "onebit.bmp")
    (tmp_path / "dogs" / "dangling.png").symlink_to(tmp_path / "gone.png")
    summary = scan(tmp_path)
    reasons = _reasons(summary)
    assert reasons["cats/notes.txt"] == "not an image (.txt)"
    assert reasons["cats/README"] == "not an image (no extension)"
    assert reasons["cats/empty.png"] == "empty file (0 bytes)"
    for name in ("garbage.png", "truncated.png", "webp.png", "onebit.bmp", "dangling.png"):
        assert reasons[f"dogs/{name}"].startswith("cannot be decoded: "), name
    assert "WEBP" in reasons["dogs/webp.png"]
    assert summary.counts == {"cats": 3, "dogs": 3}
    assert [s.path for s in summary.skipped] == sorted(reasons)


# --- scan: bad folders -----------------------------------------------------------------


def test_scan_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found") as info:
        scan(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)


def test_scan_file_instead_of_folder(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    Image.new("RGB", (8, 8)).save(path)
    with pytest.raises(DatasetError, match="got a file") as info:
        scan(path)
    assert str(path) in str(info.value)


def test_scan_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="No class subfolders") as info:
        scan(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_scan_images_without_class_folders(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(DatasetError, match="No class subfolders"):
        scan(tmp_path)


def test_scan_one_class_only(tmp_path: Path) -> None:
    write_image_folder(tmp_path, {"cats": 12})
    (tmp_path / "dogs").mkdir()
    (tmp_path / "dogs" / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="at least two classes") as info:
        scan(tmp_path)
    message = str(info.value)
    assert "'cats' (12 images)" in message and "'dogs'" in message and str(tmp_path) in message


# --- split -----------------------------------------------------------------------------


def _summary(tmp_path: Path, classes: dict[str, int]) -> DatasetSummary:
    return scan(write_image_folder(tmp_path, classes, size=8))


@pytest.fixture(scope="module")
def uneven(tmp_path_factory: pytest.TempPathFactory) -> DatasetSummary:
    root = tmp_path_factory.mktemp("uneven")
    return scan(write_image_folder(root, {"a": 3, "b": 5, "c": 17, "d": 40}, size=8))


@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
@pytest.mark.parametrize("fractions", [(0.7, 0.15, 0.15), (0.5, 0.25, 0.25), (0.2, 0.4, 0.4)])
def test_split_never_leaks(uneven: DatasetSummary, seed: int, fractions: tuple) -> None:
    config = SplitConfig(*fractions, seed=seed)
    split = split_files(uneven, config)
    train, val, test = (set(part) for part in (split.train, split.val, split.test))
    assert len(train) == len(split.train) and len(val) == len(split.val)
    assert not train & val and not train & test and not val & test
    every = {(p, uneven.classes.index(c)) for c, files in uneven.files.items() for p in files}
    assert train | val | test == every
    for label, name in enumerate(uneven.classes):
        for part in (split.train, split.val, split.test):
            assert any(y == label for _, y in part), (name, part)
    assert all(path.split("/")[0] == split.classes[y] for path, y in split.train)
    subset = split.search_train(0.3, seed)
    assert set(subset) <= train and not set(subset) & (val | test)


def test_split_counts_per_class(tmp_path: Path) -> None:
    split = split_files(_summary(tmp_path, {"a": 20, "b": 3}), SplitConfig())
    sizes = {part: [sum(1 for _, y in getattr(split, part) if y == k) for k in (0, 1)]
             for part in ("train", "val", "test")}
    assert sizes == {"train": [14, 1], "val": [3, 1], "test": [3, 1]}


def test_split_is_deterministic_per_seed(uneven: DatasetSummary) -> None:
    first = split_files(uneven, SplitConfig(seed=3))
    assert split_files(uneven, SplitConfig(seed=3)) == first
    other = split_files(uneven, SplitConfig(seed=4))
    assert other.test != first.test
    assert first.search_train(0.5, 1) == first.search_train(0.5, 1)
    assert first.search_train(0.5, 1) != first.search_train(0.5, 2)


def test_split_lists_interleave_classes(uneven: DatasetSummary) -> None:
    split = split_files(uneven, SplitConfig())
    assert len({label for _, label in split.train[:10]}) > 1  # not grouped by class
    assert split.train != sorted(split.train)


def test_search_train_is_a_stratified_fraction(uneven: DatasetSummary) -> None:
    split = split_files(uneven, SplitConfig())
    subset = split.search_train(0.5, 0)
    per_class = {k: sum(1 for _, y in split.train if y == k) for k in range(4)}
    for label, total in per_class.items():
        assert sum(1 for _, y in subset if y == label) == max(1, round(total * 0.5))
    assert split.search_train(0.01, 0) and len({y for _, y in split.search_train(0.01, 0)}) == 4
    assert split.search_train(1.0, 0) == split.train
    with pytest.raises(SettingsError, match="subset"):
        split.search_train(0, 0)


def test_split_class_too_small(tmp_path: Path) -> None:
    summary = _summary(tmp_path, {"cats": 12, "dogs": 2})
    with pytest.raises(DatasetError, match="class 'dogs' has 2 images; at least 3"):
        split_files(summary, SplitConfig())


@pytest.mark.parametrize("kwargs", [
    {"train": 0.8, "val": 0.1, "test": 0.2},
    {"train": 1.0, "val": 0.0, "test": 0.0},
    {"train": 0.7, "val": 0.3, "test": 0.0},
    {"train": -0.1, "val": 0.6, "test": 0.5},
    {"subset": 0.0},
    {"subset": 1.5},
    {"seed": -1},
])
def test_split_config_rejects_invalid_values(kwargs: dict, image_folder: Path) -> None:
    config = SplitConfig(**kwargs)
    with pytest.raises(SettingsError):
        config.validate()
    with pytest.raises(SettingsError):
        split_files(scan(image_folder), config)


def test_split_and_config_round_trip_through_json(uneven: DatasetSummary) -> None:
    config = SplitConfig(0.6, 0.2, 0.2, seed=5, subset=0.5)
    assert SplitConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    split = split_files(uneven, config)
    assert Split.from_dict(json.loads(json.dumps(split.to_dict()))) == split


def test_dataset_module_does_not_import_tensorflow() -> None:
    code = ("import sys, tuning_core.data.dataset, tuning_core.data.sample; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_class_warnings_name_tiny_and_imbalanced_classes() -> None:
    from tuning_core.data.dataset import class_warnings

    assert class_warnings({"a": 50, "b": 40}) == []
    tiny, imbalance = class_warnings({"a": 60, "b": 4})
    assert "'b' (4)" in tiny and "imbalanced" in imbalance and "15.0x" in imbalance
