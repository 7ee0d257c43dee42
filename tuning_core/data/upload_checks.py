"""What an upload may hold: names, size limits, and which zip entries are safe to unpack.

:mod:`tuning_core.data.uploads` writes datasets; this module only decides. A zip is judged
from its central directory before a byte is written (:func:`plan_zip`), and
:func:`copy_capped` counts the bytes actually written while unpacking, because a zip's
headers can lie about sizes.
"""

from __future__ import annotations

import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, BinaryIO

from tuning_core.core.errors import TuningError
from tuning_core.data.dataset import IMAGE_EXTENSIONS

_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
_DRIVE = re.compile(r"^[A-Za-z]:")
_FLAG_ENCRYPTED = 0x1
_MB = 1024 * 1024
CHUNK = _MB
IGNORED_PARTS = frozenset({"__MACOSX"})  # resource forks macOS adds to its zips


class UploadError(TuningError):
    """An upload was refused (unsafe, too big, not images, name taken) or is unreadable."""


@dataclass(frozen=True)
class UploadLimits:
    """Caps on one upload. Files below ``ratio_from_kb`` are not ratio-checked: small
    files compress well by nature, and the total cap still bounds them."""

    max_total_mb: float = 2048
    max_file_mb: float = 64
    max_files: int = 100_000
    max_ratio: float = 200
    ratio_from_kb: float = 64

    @property
    def max_total_bytes(self) -> int:
        """``max_total_mb`` in bytes."""
        return int(self.max_total_mb * _MB)

    @property
    def max_file_bytes(self) -> int:
        """``max_file_mb`` in bytes."""
        return int(self.max_file_mb * _MB)


def check_name(name: str, what: str = "dataset name") -> str:
    """Return ``name`` when it is a safe folder name, else raise UploadError.

    Safe: 1 to 64 letters, digits, ``-``, ``_`` and ``.``, not starting with ``.``.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UploadError(f"A {what} is 1 to 64 letters, digits, '-', '_' or '.', not "
                          f"starting with '.'; got {name!r}.")
    return name


def is_image_name(name: str) -> bool:
    """True when the scanner would consider the file (by its extension)."""
    return PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


@dataclass(frozen=True)
class ZipPlan:
    """The entries to unpack, each with its path inside the dataset, and what was left out."""

    members: list[tuple[zipfile.ZipInfo, str]]
    skipped: int
    total_bytes: int


def plan_zip(archive: zipfile.ZipFile, limits: UploadLimits) -> ZipPlan:
    """Check every entry of ``archive`` and say which images go where.

    A single top folder that holds the class folders is stripped. Hidden entries,
    ``__MACOSX``, non-images and files outside a class folder are skipped and counted.

    Raises:
        UploadError: an entry is encrypted, a symlink or escapes the target; there are
            no images or too many; a size or the compression ratio is over the limits;
            two entries have the same name.
    """
    infos = archive.infolist()
    for info in infos:
        _check_entry(info)
    files = [i for i in infos if not i.is_dir()]
    if len(files) > limits.max_files:
        raise UploadError(f"The zip holds {len(files)} files; at most {limits.max_files} "
                          "are accepted in one upload.")
    images = [i for i in files if _wanted(i.filename)]
    if not images:
        raise UploadError(f"The zip holds no images ({', '.join(IMAGE_EXTENSIONS)}): "
                          f"{len(files)} file{'s' if len(files) != 1 else ''}, none usable.")
    for info in images:
        _check_size(info, limits)
    total = sum(i.file_size for i in images)
    if total > limits.max_total_bytes:
        raise UploadError(f"The zip's images unpack to {total / _MB:.1f} MB; at most "
                          f"{limits.max_total_mb:g} MB are accepted in one upload.")
    members = _placed(images)
    return ZipPlan(members, len(files) - len(members), sum(i.file_size for i, _ in members))


def _check_entry(info: zipfile.ZipInfo) -> None:
    name = info.orig_filename
    if info.flag_bits & _FLAG_ENCRYPTED:
        raise UploadError(f"The zip entry {name!r} is encrypted; upload a zip without a "
                          "password.")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UploadError(f"The zip entry {name!r} is a symbolic link; links are refused "
                          "because they can point outside the dataset.")
    if "\\" in name or "\0" in name or name.startswith("/") or _DRIVE.match(name) \
            or ".." in name.split("/"):
        raise UploadError(f"The zip entry {name!r} would be written outside the dataset "
                          "folder (absolute path, '..', drive letter or backslash); expected "
                          "relative paths such as 'roses/a.jpg'.")


def _wanted(name: str) -> bool:
    parts = PurePosixPath(name).parts
    hidden = any(p.startswith(".") or p in IGNORED_PARTS for p in parts)
    return bool(parts) and not hidden and is_image_name(name)


def _check_size(info: zipfile.ZipInfo, limits: UploadLimits) -> None:
    if info.file_size > limits.max_file_bytes:
        raise UploadError(f"The zip entry {info.filename!r} unpacks to "
                          f"{info.file_size / _MB:.1f} MB; at most {limits.max_file_mb:g} MB "
                          "per file are accepted.")
    ratio = info.file_size / max(1, info.compress_size)
    if info.file_size >= limits.ratio_from_kb * 1024 and ratio > limits.max_ratio:
        raise UploadError(f"The zip entry {info.filename!r} expands {ratio:.0f} times "
                          f"({info.compress_size} to {info.file_size} bytes); at most "
                          f"{limits.max_ratio:g} times is accepted (a zip bomb?).")


def _placed(images: list[zipfile.ZipInfo]) -> list[tuple[zipfile.ZipInfo, str]]:
    """Each image with its path in the dataset; files outside a class folder are dropped."""
    parts = [PurePosixPath(i.filename).parts for i in images]
    tops = {p[0] for p in parts}
    strip = 1 if len(tops) == 1 and all(len(p) >= 3 for p in parts) else 0
    placed, seen = [], set()
    for info, part in zip(images, parts, strict=True):
        rel = "/".join(part[strip:])
        if len(part) - strip < 2:
            continue  # directly in the root: not in a class folder
        if rel in seen:
            raise UploadError(f"The zip holds {info.filename!r} twice; expected each file "
                              "once.")
        seen.add(rel)
        placed.append((info, rel))
    return placed


def copy_capped(source: IO[bytes], target: BinaryIO, cap: int,
                on_chunk: Callable[[int], None] | None = None) -> int:
    """Copy ``source`` to ``target`` in chunks; return the bytes copied.

    ``on_chunk(n)`` is called after each chunk of n bytes when given.

    Raises:
        OverflowError: more than ``cap`` bytes came (nothing past the cap is written).
    """
    done = 0
    while chunk := source.read(CHUNK):
        done += len(chunk)
        if done > cap:
            raise OverflowError(f"more than {cap} bytes")
        target.write(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))
    return done
