"""The datasets figure 1 measures on: generated, deterministic, written once, of different shapes.

Every dataset is built from images installed packages ship (scikit-learn's digits and its two
sample photos), so nothing is downloaded. :func:`prepare` writes one as class folders, splits
off a stratified held-out part with :func:`bench.harness.common.hold_out` and returns
``(train folder, holdout folder)``: both tools get the train folder, and the holdout, never
seen by either, scores both final models. A dataset that corrupts its training labels does
so after that split and to the train folder only, so the held-out labels stay clean.

Sizes: figure 1 runs every dataset 3 times with the anchor (10 trials x 10 epochs at the
native size, plus a 10-epoch retrain: 110 epochs) and ours, on 2 shared CPU cores, within
about 50 minutes, so each anchor run should take about 60-150 s. One epoch of a mid-sized
model from the anchor's space (two 64-filter 5x5 blocks) costs about 1.1 ms per image at
32 px, 2.2 ms at 48 px, 4.5 ms at 64 px and 9.4 ms at 96 px on this machine (time grows with
the pixel count), and the whole digits sample (1,530 training images at 32 px) took the
anchor 230-370 s. Each dataset is therefore sized to about 400-800 "32 px images".

One anchor run per dataset measured the sizes below (shared machine, load average 1.7-3.5):
digits 90 s, digits_rgb_jpeg 126 s (with a test run beside it, and with the first
colouring, since changed), photos 109 s, imbalanced_noisy 64 s.
"""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from bench.harness.common import OUT, fresh_dir, hold_out, labelled_files

SEED = 0
JPEG_QUALITY = 90
PREPARED = ".prepared"  # written last: a folder without it is rebuilt from scratch

Builder = Callable[[Path, Path], None]  # (empty class-folder root to fill, shared scratch)


@dataclass(frozen=True)
class BenchDataset:
    """One generated dataset: what it is, how to write it, and what happens to its train part.

    ``build(dest, scratch)`` writes the complete, correctly labelled dataset as class folders
    into the empty ``dest``; ``scratch`` is a folder shared by all builders for what more
    than one of them starts from (the enlarged digits). ``corrupt_train(train)``, when set,
    changes the train folder after the held-out split (label noise), never the holdout.
    """

    title: str
    description: str
    build: Builder
    corrupt_train: Callable[[Path], None] | None = None
    version: int = 1  # raised when the builder changes, so prepared folders are rebuilt


def _digits(scratch: Path, size: int) -> Path:
    """All 1,797 sample digits at ``size`` px (grayscale PNG), written once under scratch."""
    from tuning_core.data.sample import write_digits

    return write_digits(scratch / f"digits-{size}px", size)


def _pick(files: list[Path], count: int, key: str) -> list[Path]:
    """A seeded choice of ``count`` of ``files`` (all of them when there are fewer)."""
    rng = np.random.default_rng([SEED, zlib.crc32(key.encode())])
    return sorted(files[i] for i in rng.permutation(len(files))[:count])


def _by_class(folder: Path) -> dict[str, list[Path]]:
    items, classes = labelled_files(folder)
    grouped: dict[str, list[Path]] = {c: [] for c in classes}
    for relative, k in items:
        grouped[classes[k]].append(folder / relative)
    return grouped


def _copy_subsample(source: Path, dest: Path, counts: dict[str, int]) -> None:
    for name, files in _by_class(source).items():
        (dest / name).mkdir(parents=True, exist_ok=True)
        for path in _pick(files, counts[name], name):
            shutil.copy2(path, dest / name / path.name)


# digits: 70 of each digit's ~180 images (700 in all, 595 to train). The whole sample took
# the anchor 230-370 s; 70 a class brings it to about 90-150 s, still 100 held-out images.
DIGITS_PER_CLASS = 70


def build_digits(dest: Path, scratch: Path) -> None:
    """The sample digits as today (32 px grayscale PNG), 70 a class."""
    source = _digits(scratch, 32)
    _copy_subsample(source, dest, {str(d): DIGITS_PER_CLASS for d in range(10)})


# digits_rgb_jpeg: 40 px costs about 1.6x 32 px an image, so 45 a class (450 in all) keeps the
# anchor near the digits' time; 48 px (2x) would leave 35 a class and 50 held-out images.
RGB_SIZE = 40
RGB_PER_CLASS = 45
# Ink always lighter than paper, by at least this much luminance (0-255): with the polarity
# drawn at random too, the anchor's first sizing run learnt next to nothing (held-out 0.16).
MIN_LUMINANCE_GAP = 100.0
LUMINANCE = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as PIL's convert("L")


def _tints(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A (foreground, background) pair of random colours, the foreground the lighter."""
    while True:
        fg, bg = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        if (fg - bg) @ LUMINANCE >= MIN_LUMINANCE_GAP:
            return fg.astype(np.float32), bg.astype(np.float32)


def build_digits_rgb_jpeg(dest: Path, scratch: Path) -> None:
    """The digits at 40 px as RGB JPEG, each image in its own foreground/background colours."""
    source = _digits(scratch, RGB_SIZE)
    for name, files in _by_class(source).items():
        (dest / name).mkdir(parents=True, exist_ok=True)
        for path in _pick(files, RGB_PER_CLASS, name):
            rng = np.random.default_rng([SEED, zlib.crc32(path.name.encode())])
            fg, bg = _tints(rng)
            ink = np.asarray(Image.open(path).convert("L"), dtype=np.float32)[..., None] / 255
            pixels = np.clip(np.rint(bg + (fg - bg) * ink), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "RGB").save(dest / name / f"{path.stem}.jpg",
                                                quality=JPEG_QUALITY)


# photos: the tutorial's ASL set is 37 classes of 400x400 photos, a few dozen a class. At
# 400 px the anchor (which trains at the native size) would take about an hour a run here,
# and even 96 px costs 9x 32 px an image: 110 epochs of 12 classes x 20 would take 5 minutes.
# 64 px (4x) keeps it near 2 minutes. 20 a class (240 in all, 204 to train, 36 held out) is
# also the least the anchor can take: its take/skip split of batches of 32 leaves no
# validation batch below 7 batches (193 training images), and its search then fails.
PHOTO_SIZE = 64
PHOTO_PER_CLASS = 20
PHOTO_GRID = (2, 3)  # rows x columns of regions per photo: 6 classes from each of the two
PHOTO_CROP = 150  # the side, in source pixels, of a crop before its random scale


def _photo_sample(photo: Image.Image, centre: tuple[float, float],
                  rng: np.random.Generator) -> Image.Image:
    """One jittered view of the region around ``centre``: shifted, scaled, turned, flipped,
    brightened and contrasted at random, resized to PHOTO_SIZE."""
    width, height = photo.size
    side = PHOTO_CROP * rng.uniform(0.8, 1.2)
    margin = side * 0.6  # half the side plus room for the rotated corners
    cx = float(np.clip(centre[0] + rng.uniform(-0.15, 0.15) * side, margin, width - margin))
    cy = float(np.clip(centre[1] + rng.uniform(-0.15, 0.15) * side, margin, height - margin))
    turned = photo.rotate(rng.uniform(-10, 10), resample=Image.Resampling.BILINEAR,
                          center=(cx, cy))
    box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    image = turned.crop(tuple(round(v) for v in box)).resize(
        (PHOTO_SIZE, PHOTO_SIZE), Image.Resampling.LANCZOS)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.75, 1.25))
    return ImageEnhance.Contrast(image).enhance(rng.uniform(0.75, 1.25))


def build_photos(dest: Path, scratch: Path) -> None:
    """12 classes, each a region of one of scikit-learn's two sample photos (china, flower),
    20 random jittered 64 px JPEG crops a class."""
    from sklearn.datasets import load_sample_images  # lazily: scikit-learn imports slowly

    del scratch  # the photos come straight from scikit-learn
    sample = load_sample_images()
    rows, cols = PHOTO_GRID
    for pixels, filename in zip(sample.images, sample.filenames, strict=True):
        photo, stem = Image.fromarray(pixels), Path(filename).stem
        width, height = photo.size
        for r in range(rows):
            for c in range(cols):
                name = f"{stem}_r{r}c{c}"
                centre = ((c + 0.5) * width / cols, (r + 0.5) * height / rows)
                rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])
                (dest / name).mkdir(parents=True, exist_ok=True)
                for i in range(PHOTO_PER_CLASS):
                    _photo_sample(photo, centre, rng).save(dest / name / f"{name}_{i:03d}.jpg",
                                                           quality=JPEG_QUALITY)


# imbalanced_noisy: the digits, 150 of the largest class falling geometrically to 15 of the
# smallest (10:1, 613 in all, 522 to train: 64 s measured), then 10% of the training images
# moved to a wrong class folder.
IMBALANCE_MAX, IMBALANCE_RATIO = 150, 10
NOISE_FRACTION = 0.10


def imbalanced_counts() -> dict[str, int]:
    """Images per digit: 150 for 0 falling geometrically to 15 for 9."""
    steps = np.geomspace(IMBALANCE_MAX, IMBALANCE_MAX / IMBALANCE_RATIO, 10)
    return {str(d): round(n) for d, n in enumerate(steps)}


def build_imbalanced(dest: Path, scratch: Path) -> None:
    """The 32 px digits with a 10:1 imbalance between the largest and the smallest class."""
    _copy_subsample(_digits(scratch, 32), dest, imbalanced_counts())


def add_label_noise(train: Path, fraction: float = NOISE_FRACTION) -> None:
    """Move a seeded ``fraction`` of the training images to a wrong class folder.

    The wrong class is drawn in proportion to the classes' sizes, as confusions in real
    labels land mostly in the common classes, so the imbalance the tools see stays about
    what it was. File names keep their true digit, which neither tool reads.
    """
    grouped = _by_class(train)
    names = list(grouped)
    sizes = np.array([len(grouped[n]) for n in names], dtype=float)
    everything = [(k, path) for k, n in enumerate(names) for path in grouped[n]]
    rng = np.random.default_rng([SEED, zlib.crc32(b"label-noise")])
    for i in sorted(rng.permutation(len(everything))[:round(fraction * len(everything))]):
        k, path = everything[i]
        weights = sizes.copy()
        weights[k] = 0
        wrong = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        path.rename(train / wrong / path.name)


DATASETS: dict[str, BenchDataset] = {
    "digits": BenchDataset(
        "Digits, 32 px grayscale PNG",
        "scikit-learn's handwritten digits enlarged to 32 px, 10 classes; 70 of each "
        "digit's ~180 images (700), so that the anchor takes about 1.5 minutes a run here "
        "(90 s measured).",
        build_digits),
    "digits_rgb_jpeg": BenchDataset(
        "Digits, 40 px RGB JPEG, random colours",
        "the same digits at 40 px as RGB JPEG, each image in its own random ink and paper "
        "colours (seeded; the ink the lighter), 45 a class (450): colour tells nothing about "
        "the class, but the images are genuinely RGB.",
        build_digits_rgb_jpeg, version=2),
    "photos": BenchDataset(
        "Photo patches, 64 px RGB JPEG",
        "a stand-in for the tutorial's ASL photos (37 classes of 400 px, few a class): 12 "
        "classes, each a region of one of scikit-learn's two sample photos, 20 jittered crops "
        "(shift, scale, turn, flip, brightness, contrast) a class at 64 px. Not 400 px: the "
        "anchor trains at the native size and would take about an hour a run on 2 cores.",
        build_photos, version=2),
    "imbalanced_noisy": BenchDataset(
        "Digits, 10:1 imbalance, 10% label noise",
        "the 32 px digits with 150 of the largest class down to 15 of the smallest (613), "
        "and 10% of the training images moved to a wrong class; the held-out images keep "
        "their true labels.",
        build_imbalanced, add_label_noise),
}


def get(name: str) -> BenchDataset:
    """The dataset called ``name`` (ValueError naming the known ones otherwise)."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def prepare(name: str, root: Path = OUT / "data") -> tuple[Path, Path]:
    """Write dataset ``name`` under ``root/name`` once; returns (train folder, holdout folder).

    ``root/name/source`` holds the clean dataset, ``train`` and ``holdout`` the stratified
    split of it (:func:`bench.harness.common.hold_out`), with any label noise applied to ``train``
    only. A folder that was not finished, or was built by another version of the builder (the
    marker says which), is built again from scratch.
    """
    dataset = get(name)
    home = root / name
    train, holdout = home / "train", home / "holdout"
    marker, stamp = home / PREPARED, f"{name} version {dataset.version}\n"
    if marker.is_file() and marker.read_text() == stamp:
        return train, holdout
    fresh_dir(home)
    source = fresh_dir(home / "source")
    dataset.build(source, root / "scratch")
    hold_out(source, home, seed=SEED)
    if dataset.corrupt_train is not None:
        dataset.corrupt_train(train)
    marker.write_text(stamp)
    return train, holdout
