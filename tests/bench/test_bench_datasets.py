"""The benchmark's generated datasets (bench/workloads/datasets.py): shapes, determinism,
clean holdout."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from bench.harness.common import labelled_files
from bench.workloads import datasets


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every dataset prepared once, for the module."""
    root = tmp_path_factory.mktemp("bench-data")
    for name in datasets.DATASETS:
        datasets.prepare(name, root)
    return root


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _split(root: Path, name: str) -> tuple[Path, Path]:
    return root / name / "train", root / name / "holdout"


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*/*") if p.is_file())


def _counts(folder: Path) -> dict[str, int]:
    return {d.name: len(list(d.iterdir())) for d in sorted(folder.iterdir()) if d.is_dir()}


def test_registry_has_four_described_datasets() -> None:
    assert {"digits", "digits_rgb_jpeg", "photos", "imbalanced_noisy"} <= set(datasets.DATASETS)
    for dataset in datasets.DATASETS.values():
        assert dataset.title and dataset.description and callable(dataset.build)
    with pytest.raises(ValueError, match="unknown dataset 'nope'; known: digits"):
        datasets.get("nope")


@pytest.mark.parametrize("name, classes, size, mode, suffix", [
    ("digits", 10, 32, "L", ".png"),
    ("digits_rgb_jpeg", 10, datasets.RGB_SIZE, "RGB", ".jpg"),
    ("photos", 12, datasets.PHOTO_SIZE, "RGB", ".jpg"),
    ("imbalanced_noisy", 10, 32, "L", ".png"),
])
def test_builders_write_the_promised_classes_sizes_and_formats(
        root: Path, name: str, classes: int, size: int, mode: str, suffix: str) -> None:
    train, holdout = _split(root, name)
    assert len(labelled_files(train)[1]) == len(labelled_files(holdout)[1]) == classes
    for path in _files(train)[::7] + _files(holdout):
        assert path.suffix == suffix
        with Image.open(path) as image:
            assert image.size == (size, size) and image.mode == mode
            assert image.format == ("JPEG" if suffix == ".jpg" else "PNG")


def test_rgb_digits_are_really_coloured(root: Path) -> None:
    means = []
    for path in _files(_split(root, "digits_rgb_jpeg")[0])[:20]:
        with Image.open(path) as image:
            means.append(tuple(round(sum(band.getdata()) / (image.width * image.height))
                               for band in image.split()))
    assert len(set(means)) == 20  # each image its own colours
    assert sum(max(m) - min(m) > 20 for m in means) >= 15  # and not shades of grey


def test_every_train_folder_is_enough_for_the_anchors_split(root: Path) -> None:
    from bench.workloads.anchor import BATCH_SIZE, MIN_BATCHES

    for name in datasets.DATASETS:
        assert len(_files(_split(root, name)[0])) > (MIN_BATCHES - 1) * BATCH_SIZE, name


def test_sizes_per_class(root: Path) -> None:
    source = lambda name: _counts(root / name / "source")  # noqa: E731
    assert set(source("digits").values()) == {datasets.DIGITS_PER_CLASS}
    assert set(source("digits_rgb_jpeg").values()) == {datasets.RGB_PER_CLASS}
    assert set(source("photos").values()) == {datasets.PHOTO_PER_CLASS}


def test_preparing_is_deterministic_and_idempotent(root: Path, tmp_path: Path) -> None:
    for name in datasets.DATASETS:
        train, holdout = datasets.prepare(name, tmp_path)
        assert _digests(train) == _digests(_split(root, name)[0])
        assert _digests(holdout) == _digests(_split(root, name)[1])
    before = _digests(tmp_path / "imbalanced_noisy")
    assert datasets.prepare("imbalanced_noisy", tmp_path) == _split(tmp_path, "imbalanced_noisy")
    assert _digests(tmp_path / "imbalanced_noisy") == before  # the noise is not applied twice


def test_an_unfinished_or_outdated_folder_is_built_again(tmp_path: Path) -> None:
    train, _ = datasets.prepare("photos", tmp_path)
    marker = tmp_path / "photos" / datasets.PREPARED
    for spoil in (marker.unlink, lambda: marker.write_text("photos version 0\n")):
        spoil()
        stray = train / "stray"
        stray.mkdir()
        datasets.prepare("photos", tmp_path)
        assert not stray.exists() and marker.is_file()


def test_imbalance_is_ten_to_one(root: Path) -> None:
    counts = datasets.imbalanced_counts()
    assert max(counts.values()) == 10 * min(counts.values())
    assert _counts(root / "imbalanced_noisy" / "source") == counts
    held = _counts(_split(root, "imbalanced_noisy")[1])
    assert max(held.values()) / min(held.values()) >= 7  # stratified: the imbalance carries over


def _mislabelled(folder: Path) -> list[Path]:
    """Files whose name (it starts with the true class) disagrees with their class folder."""
    return [p for p in _files(folder) if p.stem.rsplit("_", 1)[0] != p.parent.name]


def test_label_noise_is_in_train_only_and_holdout_is_clean_and_disjoint(root: Path) -> None:
    train, holdout = _split(root, "imbalanced_noisy")
    noisy = _mislabelled(train)
    assert len(noisy) == round(datasets.NOISE_FRACTION * len(_files(train)))
    assert not _mislabelled(holdout) and not _mislabelled(root / "imbalanced_noisy" / "source")
    assert not {p.name for p in _files(train)} & {p.name for p in _files(holdout)}
    sizes = _counts(train)
    assert max(sizes.values()) / min(sizes.values()) >= 7  # the noise keeps the imbalance
    assert len(Counter(p.parent.name for p in noisy)) > 3


@pytest.mark.parametrize("name", ["digits", "digits_rgb_jpeg", "photos"])
def test_clean_datasets_split_disjoint_and_stratified(root: Path, name: str) -> None:
    train, holdout = _split(root, name)
    assert not _mislabelled(train)
    assert not {p.name for p in _files(train)} & {p.name for p in _files(holdout)}
    held = _counts(holdout)
    assert len(set(held.values())) == 1 and set(held) == set(_counts(train))


def test_anchor_native_size_is_the_median_side(root: Path) -> None:
    from bench.workloads.anchor import native_size

    assert native_size(_split(root, "photos")[0]) == datasets.PHOTO_SIZE
    assert native_size(_split(root, "digits")[0]) == 32
    with pytest.raises(ValueError, match="no images"):
        native_size(root / "scratch" / "nothing-here")
