"""Image folders: scan one (classes, sizes, colour modes, skipped files) and split it.

A dataset is a folder with one subfolder per class. :func:`scan` opens every candidate
file with PIL (fully, so truncated files are caught) and reports what it found;
:func:`split_files` makes a stratified, seeded train/val/test split of the file list in
which no file is ever in two splits. The TensorFlow pipeline that decodes the images
lives in :mod:`tuning_core.data.pipeline`; its public names are re-exported here.
"""

from __future__ import annotations

import os
import statistics
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tuning_core.core.errors import DatasetError, SettingsError
from tuning_core.data.pipeline import ImageCache, ImageConfig, TrainingData, load_image

__all__ = [
    "IMAGE_EXTENSIONS", "SkippedFile", "SizeStats", "DatasetSummary", "scan",
    "SplitConfig", "LabeledFile", "Split", "split_files", "probe_image",
    "ImageConfig", "ImageCache", "TrainingData", "load_image",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N"})
# Formats TensorFlow's decode_image reads (MPO is how PIL names many camera JPEGs).
_TF_FORMATS = frozenset({"PNG", "JPEG", "MPO", "GIF", "BMP"})
# PIL raises all of these for broken files (SyntaxError and struct.error included).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)

LabeledFile = tuple[str, int]  # (path relative to the dataset root, class index)


@dataclass(frozen=True)
class SkippedFile:
    """A file the scan left out, with the reason; ``path`` is relative to the root."""

    path: str
    reason: str


@dataclass(frozen=True)
class SizeStats:
    """Width and height statistics, in pixels, of the usable images."""

    min_width: int
    median_width: float
    max_width: int
    min_height: int
    median_height: float
    max_height: int

    @classmethod
    def of(cls, sizes: list[tuple[int, int]]) -> SizeStats:
        """Statistics of a non-empty list of (width, height) pairs."""
        widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
        return cls(min(widths), float(statistics.median(widths)), max(widths),
                   min(heights), float(statistics.median(heights)), max(heights))


@dataclass
class DatasetSummary:
    """What :func:`scan` found in a dataset folder."""

    root: str
    classes: list[str]
    files: dict[str, list[str]]
    size_stats: SizeStats
    color_modes: dict[str, int]
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Number of usable images per class, in class order."""
        return {name: len(self.files[name]) for name in self.classes}

    @property
    def num_images(self) -> int:
        """Number of usable images over all classes."""
        return sum(self.counts.values())

    def suggested_image_size(self) -> int:
        """The median image side rounded to a multiple of 8, clamped to [32, 128]."""
        side = min(self.size_stats.median_width, self.size_stats.median_height)
        return int(min(128, max(32, round(side / 8) * 8)))

    def suggested_color_mode(self) -> str:
        """"grayscale" when every usable image is grayscale, else "rgb"."""
        gray = all(mode in GRAYSCALE_MODES for mode in self.color_modes)
        return "grayscale" if gray and self.color_modes else "rgb"


@dataclass
class _ScanState:
    """What the scan has gathered so far."""

    files: dict[str, list[str]] = field(default_factory=dict)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    modes: Counter[str] = field(default_factory=Counter)
    skipped: list[SkippedFile] = field(default_factory=list)
    roots: tuple[Path, ...] | None = None  # lab mode: nothing outside these is opened

    def outside(self, path: Path) -> bool:
        """True when ``path`` leads (through links) out of every data root."""
        if self.roots is None:
            return False
        real = path.resolve()
        return not any(real == root or real.is_relative_to(root) for root in self.roots)


LEADS_OUT = "a link leading outside the data roots (not opened)"


def scan(folder: str | Path, roots: Sequence[Path] | None = None) -> DatasetSummary:
    """Scan a folder with one subfolder per class and summarise its usable images.

    Hidden files and folders are ignored; images in nested folders count for their
    class; files directly in the root, non-images, empty files and files that do not
    decode are listed in ``skipped`` with their reason. With ``roots`` (lab mode), a class
    folder or file that a link leads out of every root is skipped unopened.

    Raises:
        DatasetError: the path is missing or a file, it has no class subfolders, or
            fewer than two subfolders hold usable images.
    """
    root = _check_root(folder)
    state = _ScanState(roots=tuple(Path(r).resolve() for r in roots) if roots else None)
    subfolders = []
    for entry in _visible(root.iterdir()):
        if state.outside(entry):
            state.skipped.append(SkippedFile(entry.name, LEADS_OUT))
        elif entry.is_dir():
            subfolders.append(entry)
            _scan_class(root, entry, state)
        elif entry.is_file():
            state.skipped.append(SkippedFile(entry.name, "not in a class subfolder"))
    _check_classes(root, subfolders, state)
    classes = sorted(state.files)
    return DatasetSummary(str(root), classes, {c: state.files[c] for c in classes},
                          SizeStats.of(state.sizes), dict(sorted(state.modes.items())),
                          sorted(state.skipped, key=lambda s: s.path))


def _check_root(folder: str | Path) -> Path:
    root = Path(folder).expanduser()
    if not root.exists():
        raise DatasetError(f"Dataset folder not found: {root}. Expected a folder with "
                           "one subfolder of images per class.")
    if not root.is_dir():
        raise DatasetError(f"Expected a folder with one subfolder of images per class, "
                           f"got a file: {root}")
    return root.resolve()


def _visible(paths: Any) -> list[Path]:
    return sorted(p for p in paths if not p.name.startswith("."))


def _class_files(folder: Path) -> list[Path]:
    """Every visible file under ``folder``, nested folders included."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [Path(dirpath, f) for f in filenames if not f.startswith(".")]
    return found


def _scan_class(root: Path, folder: Path, state: _ScanState) -> None:
    usable = []
    for path in _class_files(folder):
        rel = path.relative_to(root).as_posix()
        probe = LEADS_OUT if state.outside(path) else _probe(path)
        if isinstance(probe, str):
            state.skipped.append(SkippedFile(rel, probe))
            continue
        usable.append(rel)
        state.sizes.append((probe[0], probe[1]))
        state.modes[probe[2]] += 1
    if usable:
        state.files[folder.name] = sorted(usable)


def probe_image(path: Path) -> tuple[int, int, str] | str:
    """(width, height, PIL mode) of a usable image, else the reason to skip it (decodes it
    fully, as TensorFlow will)."""
    return _probe(path)


def _probe(path: Path) -> tuple[int, int, str] | str:
    suffix = path.suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        return f"not an image ({suffix or 'no extension'})"
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as image:
            image.load()  # decodes the pixels (GIF: the first frame); catches truncation
            problem = _tensorflow_problem(image, path)
            return problem or (image.width, image.height, image.mode)
    except _DECODE_ERRORS as error:
        return f"cannot be decoded: {error}"


def _tensorflow_problem(image: Image.Image, path: Path) -> str | None:
    """Why TensorFlow's decoder would fail on a file PIL reads, or None."""
    if image.format not in _TF_FORMATS:
        return (f"cannot be decoded: {image.format} data; TensorFlow reads "
                "JPEG, PNG, BMP and GIF")
    if image.format != "BMP":
        return None
    bits, compression = _bmp_header(path)
    supported = bits in (24, 32) or (bits == 8 and image.mode == "L")
    if supported and compression in (0, 3):
        return None
    return (f"cannot be decoded: {bits}-bit {image.mode} BMP (compression {compression}); "
            "TensorFlow reads only uncompressed 24/32-bit and 8-bit grayscale BMP")


def _bmp_header(path: Path) -> tuple[int, int]:
    """(bits per pixel, compression) from a BMP file header."""
    with open(path, "rb") as handle:
        head = handle.read(34)
    if int.from_bytes(head[14:18], "little") == 12:  # OS/2 header: no compression field
        return int.from_bytes(head[24:26], "little"), 0
    return int.from_bytes(head[28:30], "little"), int.from_bytes(head[30:34], "little")


def _check_classes(root: Path, subfolders: list[Path], state: _ScanState) -> None:
    if not subfolders:
        raise DatasetError(
            f"No class subfolders in {root}: expected one subfolder of images per class "
            f"(for example {root / 'cats'} and {root / 'dogs'}).")
    if len(state.files) < 2:
        found = ", ".join(f"'{c}' ({len(f)} images)" for c, f in state.files.items())
        empty = [f"'{p.name}'" for p in subfolders if p.name not in state.files]
        raise DatasetError(
            f"Need at least two classes with images in {root}; found "
            f"{len(state.files)}{': ' + found if found else ''}"
            f"{'. Subfolders without usable images: ' + ', '.join(empty) if empty else ''}.")


@dataclass(frozen=True)
class SplitConfig:
    """Split fractions, the seed, and the fraction of train that search trials use."""

    train: float = 0.70
    val: float = 0.15
    test: float = 0.15
    seed: int = 0
    subset: float = 1.0

    def validate(self) -> None:
        """Raise SettingsError unless fractions are > 0 and sum to 1, 0 < subset <= 1."""
        fractions = (self.train, self.val, self.test)
        if min(fractions) <= 0 or abs(sum(fractions) - 1.0) > 1e-6:
            raise SettingsError(
                "Split fractions must each be above 0 and sum to 1; got "
                f"train={self.train}, val={self.val}, test={self.test} "
                f"(sum {sum(fractions):g}).")
        if not 0 < self.subset <= 1:
            raise SettingsError(f"The search subset must be above 0 and at most 1; "
                                f"got {self.subset}.")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise SettingsError(f"The split seed must be an integer >= 0; got {self.seed!r}.")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reverses it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SplitConfig:
        """Rebuild a config written by :meth:`to_dict`."""
        return cls(**d)


@dataclass
class Split:
    """A train/val/test split of a dataset's files; no file is in two lists.

    Each list is in a seeded random order with the classes interleaved, so that a
    shuffle buffer smaller than the list (the cache-file mode) still mixes classes.
    """

    root: str
    classes: list[str]
    train: list[LabeledFile]
    val: list[LabeledFile]
    test: list[LabeledFile]

    def search_train(self, subset: float, seed: int) -> list[LabeledFile]:
        """A stratified, seeded fraction of train (at least one file per class).

        Raises:
            SettingsError: subset is not in (0, 1].
        """
        if not 0 < subset <= 1:
            raise SettingsError(f"The search subset must be above 0 and at most 1; "
                                f"got {subset}.")
        if subset == 1:
            return list(self.train)
        chosen: list[LabeledFile] = []
        for label, name in enumerate(self.classes):
            items = sorted(item for item in self.train if item[1] == label)
            keep = max(1, round(len(items) * subset))
            chosen += _shuffled(items, seed, name)[:keep]
        return _shuffled(sorted(chosen), seed, "subset")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (files as [path, label] pairs)."""
        return {"root": self.root, "classes": list(self.classes),
                **{k: [list(i) for i in getattr(self, k)] for k in ("train", "val", "test")}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Split:
        """Rebuild a split written by :meth:`to_dict`."""
        lists = {k: [(str(p), int(y)) for p, y in d[k]] for k in ("train", "val", "test")}
        return cls(root=d["root"], classes=list(d["classes"]), **lists)


def split_files(summary: DatasetSummary, config: SplitConfig) -> Split:
    """Split each class's files into train/val/test, stratified, seeded and deterministic.

    Per class the files are sorted, shuffled with the seed, and cut: val and test get
    round(n * fraction) files but at least one each, train the rest (at least one).
    Each split is then put in a seeded order that interleaves the classes.

    Raises:
        SettingsError: the config is invalid.
        DatasetError: a class has fewer than 3 images.
    """
    config.validate()
    parts: tuple[list[LabeledFile], ...] = ([], [], [])
    for label, name in enumerate(summary.classes):
        files = summary.files[name]
        counts = _split_counts(name, len(files), config)
        order = _shuffled(sorted(files), config.seed, name)
        start = 0
        for part, count in zip(parts, counts, strict=True):
            part += [(path, label) for path in order[start:start + count]]
            start += count
    # Classes interleaved in a seeded order: a small shuffle buffer still mixes them.
    train, val, test = (_shuffled(part, config.seed, "split") for part in parts)
    return Split(summary.root, list(summary.classes), train, val, test)


def _split_counts(name: str, n: int, config: SplitConfig) -> tuple[int, int, int]:
    """(train, val, test) counts for a class of n files, each at least 1."""
    if n < 3:
        raise DatasetError(f"class '{name}' has {n} image{'s' if n != 1 else ''}; at least "
                           "3 are needed to split it into train, validation and test.")
    val = max(1, round(n * config.val))
    test = max(1, round(n * config.test))
    while n - val - test < 1:  # terminates: n >= 3 leaves room for 1 + 1 + 1
        if val >= test:
            val -= 1
        else:
            test -= 1
    return n - val - test, val, test


def _shuffled(items: list[Any], seed: int, name: str) -> list[Any]:
    """``items`` in a seeded order; the class name keeps classes independent."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    return [items[i] for i in rng.permutation(len(items))]


TINY_CLASS = 10  # fewer images than this gives a noisy per-class estimate
IMBALANCE_RATIO = 3.0


def class_warnings(counts: dict[str, int]) -> list[str]:
    """Warnings about tiny classes and class imbalance, for people."""
    warnings = []
    tiny = [f"'{c}' ({n})" for c, n in counts.items() if n < TINY_CLASS]
    if tiny:
        warnings.append(f"Tiny classes: {', '.join(tiny)}. Fewer than {TINY_CLASS} images "
                        "give few validation and test images, so their scores will be noisy; "
                        "a class needs at least 3 images to be split at all.")
    if counts and min(counts.values()) > 0:
        most, least = max(counts, key=counts.__getitem__), min(counts, key=counts.__getitem__)
        ratio = counts[most] / counts[least]
        if ratio >= IMBALANCE_RATIO:
            warnings.append(f"Classes are imbalanced: '{most}' has {counts[most]} images, "
                            f"'{least}' {counts[least]} ({ratio:.1f}x fewer). Accuracy will "
                            "favour the large classes; check the per-class recall later.")
    return warnings
