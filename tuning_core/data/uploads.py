"""Datasets uploaded from the browser: unpack a zip of class folders, or save loose images.

Everything is written into a hidden temporary folder beside the target first and moved
into place only once all of it succeeded, so a refused or broken upload leaves nothing
behind; a disk too small for it is refused before a byte is written. Loose images added to
an existing dataset move in one by one after a journal in the staging folder says where: a
kill midway is finished by the next upload or listing, never half a batch. Who uploaded a
dataset is kept in ``<dataset>/.dataset.json`` (hidden, so the scanner ignores it); only that
owner or an admin may delete it. The checks themselves (names, limits, unsafe zip entries, zip
bombs) live in :mod:`tuning_core.data.upload_checks`.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any, BinaryIO

from tuning_core.core import atomic, diskspace, leftovers
from tuning_core.core.errors import DiskFullError
from tuning_core.data.upload_checks import (
    UploadError,
    UploadLimits,
    check_name,
    copy_capped,
    is_image_name,
    plan_zip,
)
from tuning_core.lab.actor import Actor
from tuning_core.lab.permissions import Action

__all__ = ["META_FILE", "UploadError", "UploadLimits", "UploadedDataset", "extract_zip",
           "save_images", "list_datasets", "delete_dataset"]

META_FILE = ".dataset.json"
META_VERSION = 1
Progress = Callable[[int, int], None]
# What an unreadable or broken zip raises from zipfile and its decompressors.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error,
               NotImplementedError, RuntimeError, ValueError, OSError)


@dataclass(frozen=True)
class UploadedDataset:
    """An uploaded dataset folder and who uploaded it.

    ``files`` and ``bytes`` count the images in the whole dataset; ``skipped`` (entries
    left out) and ``renamed`` (original name -> saved name) describe the latest upload.
    """

    name: str
    path: str
    owner: str
    files: int
    bytes: int
    created: float
    skipped: int = 0
    renamed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reverses it."""
        return {"version": META_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UploadedDataset:
        """Rebuild a dataset record written by :meth:`to_dict`."""
        fields = {k: v for k, v in d.items() if k != "version"}
        return cls(**{**fields, "renamed": dict(fields.get("renamed") or {})})


# --- zips -----------------------------------------------------------------------------


def extract_zip(source: BinaryIO | Path, data_dir: Path, name: str, owner: str,
                limits: UploadLimits = UploadLimits(),
                progress: Progress | None = None) -> UploadedDataset:
    """Unpack a zip of class folders into ``data_dir/<name>`` and record its owner.

    The zip is checked whole before anything is written (see
    :func:`tuning_core.data.upload_checks.plan_zip`), and bytes are counted again while
    unpacking. ``progress(done, total)`` gets the bytes unpacked so far.

    Raises:
        UploadError: the name is invalid or taken, the file is not a readable zip, or
            the zip is refused (unsafe entry, encrypted, too big, no images). Nothing
            is left in ``data_dir`` then.
    """
    data_dir, target = _new_target(data_dir, name)
    with _zip_errors(source), zipfile.ZipFile(source) as archive:
        plan = plan_zip(archive, limits)
        _check_disk(data_dir, sum(info.file_size for info, _ in plan.members), name)
        with _staging(data_dir, name) as tmp:
            written = _unpack(archive, plan.members, tmp, limits, progress)
            meta = UploadedDataset(name, str(target), owner, len(plan.members), written,
                                   time.time(), plan.skipped)
            _write_meta(tmp, meta)
            _rename_into_place(tmp, target)
    return meta


@contextmanager
def _zip_errors(source: BinaryIO | Path) -> Iterator[None]:
    label = source.name if isinstance(source, Path) else "the uploaded file"
    try:
        yield
    except _ZIP_ERRORS as error:
        raise UploadError(f"Expected a readable .zip file; {label} is not one or is "
                          f"damaged: {error}.") from error


def _unpack(archive: zipfile.ZipFile, members: list[tuple[zipfile.ZipInfo, str]],
            tmp: Path, limits: UploadLimits, progress: Progress | None) -> int:
    """Write each member under ``tmp``; returns the bytes written (counted, not declared)."""
    total, done = sum(info.file_size for info, _ in members), 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    advance(0)
    for info, rel in members:
        dest = _inside(tmp, rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        cap = min(info.file_size, limits.max_file_bytes, limits.max_total_bytes - done)
        with archive.open(info) as src, open(dest, "xb") as out:
            _copy(src, out, cap, info.filename, advance)
            _flush(out)
    return done


def _copy(src: IO[bytes], out: BinaryIO, cap: int, label: str,
          advance: Callable[[int], None]) -> int:
    try:
        return copy_capped(src, out, cap, advance)
    except OverflowError:
        raise UploadError(f"{label!r} holds more than the {cap} bytes its header or the "
                          "upload limits allow; refused (a zip bomb or a damaged zip?).") \
            from None


def _inside(root: Path, rel: str) -> Path:
    """``root/rel``, refusing anything that resolves outside ``root``."""
    dest = (root / rel).resolve()
    if not dest.is_relative_to(root.resolve()):
        raise UploadError(f"{rel!r} would be written outside the dataset folder; refused.")
    return dest


# --- loose images ---------------------------------------------------------------------


def save_images(files: Iterable[tuple[str, BinaryIO]], data_dir: Path, name: str,
                class_name: str, owner: str,
                limits: UploadLimits = UploadLimits()) -> UploadedDataset:
    """Save loose images into ``data_dir/<name>/<class_name>/``.

    A new dataset is created for ``owner``; an existing one must be theirs. File names
    are sanitised; a name already there gets a ``-1``, ``-2``... suffix (never an
    overwrite), and every saved name that differs from the original is listed in
    ``renamed``. Non-images are skipped and counted.

    Raises:
        UploadError: a name is invalid, the dataset belongs to someone else, there are
            no images, or a size or count limit is exceeded. Nothing is written then.
    """
    check_name(class_name, "class name")
    data_dir, target = Path(data_dir), Path(data_dir) / check_name(name)
    existing = _owned_by(target, owner) if target.exists() else None
    files = list(files)
    _check_disk(data_dir, sum(_size(stream) for _, stream in files), name)
    with _staging(data_dir, name) as tmp:
        staged, skipped, renamed = _stage(files, tmp / class_name, limits)
        if existing is None:
            meta = UploadedDataset(name, str(target), owner, len(staged),
                                   sum(p.stat().st_size for p in staged), time.time(),
                                   skipped, renamed)
            _write_meta(tmp, meta)
            _rename_into_place(tmp, target)
            return meta
        _sync_folders(tmp)
        atomic.write_json(tmp / MOVING_FILE, {"folder": str(target / class_name)})
        renamed.update(_move_in(staged, target / class_name, renamed))
        return _recount(target, replace(existing, skipped=skipped, renamed=renamed))


def _recount(target: Path, meta: UploadedDataset) -> UploadedDataset:
    count, size = _count_images(target)
    meta = replace(meta, path=str(target), files=count, bytes=size)
    _write_meta(target, meta)
    return meta


def _drop_reservations(folder: Path, staged: list[Path]) -> None:
    """Remove the empty names the killed move had reserved (:func:`_free_name`) for files
    still staged: ``name`` or ``name-N``, 0 bytes (an empty file is no image anyway)."""
    for path in staged:
        stem, suffix = os.path.splitext(path.name)
        for taken in folder.glob(f"{glob.escape(stem)}*{glob.escape(suffix)}"):
            extra = taken.name[len(stem):len(taken.name) - len(suffix)]
            if (extra == "" or re.fullmatch(r"-\d+", extra)) and taken.stat().st_size == 0:
                taken.unlink()


def _finish_moves(data_dir: Path) -> None:
    """Finish the moves of loose images into an existing dataset that a kill cut short:
    the staged files were whole and the move had begun (its journal says where to), so the
    rest of the batch goes in too and the record is counted again; never half a batch."""
    for tmp in sorted(data_dir.glob(f"{STAGING}*")):
        journal = tmp / MOVING_FILE
        if not journal.is_file() or not leftovers.is_stale(tmp):
            continue
        try:
            folder = Path(json.loads(journal.read_text())["folder"])
            rest = sorted((tmp / folder.name).iterdir()) if (tmp / folder.name).is_dir() else []
            _drop_reservations(folder, rest)
            _move_in(rest, folder, {})
            meta = _read_meta(folder.parent)
            if meta is not None:
                _recount(folder.parent, meta)
            shutil.rmtree(tmp)
        except (OSError, ValueError, KeyError):
            continue  # tried again at the next upload or listing


def _owned_by(target: Path, owner: str) -> UploadedDataset:
    meta = _read_meta(target)
    if meta is None or meta.owner != owner:
        who = f"uploaded by {meta.owner}" if meta else "not an upload"
        raise UploadError(f"The dataset {target.name} already exists ({who}); {owner} may "
                          "add images only to their own uploads. Choose another name.")
    return meta


def _stage(files: Iterable[tuple[str, BinaryIO]], folder: Path,
           limits: UploadLimits) -> tuple[list[Path], int, dict[str, str]]:
    """Write the images into ``folder``: (their paths, files skipped, renames)."""
    folder.mkdir(parents=True)
    staged: list[Path] = []
    skipped, total, renamed = 0, 0, {}
    for original, stream in files:
        if not is_image_name(original.replace("\\", "/")):
            skipped += 1
            continue
        if len(staged) == limits.max_files:
            raise UploadError(f"More than {limits.max_files} images in one upload; "
                              "upload them in smaller batches.")
        path = _free_name(folder, safe_file_name(original))
        cap = min(limits.max_file_bytes, limits.max_total_bytes - total)
        with open(path, "wb") as out:
            total += _copy(stream, out, cap, original, lambda n: None)
            _flush(out)
        staged.append(path)
        if path.name != original:
            renamed[original] = path.name
    if not staged:
        raise UploadError(f"None of the {skipped} uploaded files is an image; expected "
                          "JPEG, PNG, BMP or GIF files.")
    return staged, skipped, renamed


def safe_file_name(original: str) -> str:
    """A file name with no folders, only letters, digits, ``-``, ``_`` and ``.``, not
    hidden, at most 100 characters (the extension kept)."""
    base = re.split(r"[\\/]", original)[-1]
    stem, dot, ext = base.rpartition(".")
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", stem if dot else base).lstrip(".")[:90]
    ext = re.sub(r"[^A-Za-z0-9]", "_", ext) if dot else ""
    return f"{stem or 'image'}{'.' + ext if ext else ''}"


def _free_name(folder: Path, name: str) -> Path:
    """Reserve a file name in ``folder`` that nobody has: ``name``, else name-1, name-2...

    O_EXCL makes the reservation atomic, so two uploads never pick the same name.
    """
    stem, suffix = os.path.splitext(name)
    for n in range(100_000):
        path = folder / (name if n == 0 else f"{stem}-{n}{suffix}")
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return path
        except FileExistsError:
            continue
    raise UploadError(f"No free file name for {name!r} in {folder}.")


def _move_in(staged: list[Path], folder: Path, renamed: dict[str, str]) -> dict[str, str]:
    """Move the staged files into ``folder``; undone whole if one move fails."""
    folder.mkdir(parents=True, exist_ok=True)
    by_saved = {saved: original for original, saved in renamed.items()}
    moved: list[Path] = []
    changes = {}
    try:
        for path in staged:
            dest = _free_name(folder, path.name)
            moved.append(dest)
            os.replace(path, dest)
            if dest.name != path.name:
                changes[by_saved.get(path.name, path.name)] = dest.name
    except BaseException:
        for dest in moved:
            dest.unlink(missing_ok=True)
        raise
    return changes


# --- the datasets folder --------------------------------------------------------------


def list_datasets(data_dir: Path) -> list[UploadedDataset]:
    """Every dataset folder in ``data_dir``, by name; folders that were not uploaded
    (no readable metadata) are listed with owner "" and their images counted."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return []
    _finish_moves(data_dir)
    found = []
    for folder in sorted(data_dir.iterdir()):
        if folder.name.startswith(".") or folder.is_symlink() or not folder.is_dir():
            continue
        found.append(_read_meta(folder) or _unrecorded(folder))
    return found


def delete_dataset(data_dir: Path, name: str, actor: Actor) -> None:
    """Delete the dataset folder ``data_dir/<name>``.

    Raises:
        UploadError: the name is not a dataset folder directly in ``data_dir``, or the role
            rules do not let ``actor`` delete it (a member deletes their own uploads, an
            admin any; a folder without an owner: admins only).
    """
    data_dir = Path(data_dir).resolve()
    folder = data_dir / check_name(name)
    if folder.is_symlink() or not folder.is_dir() or folder.resolve().parent != data_dir:
        raise UploadError(f"No dataset folder {name!r} in {data_dir}.")
    meta = _read_meta(folder)
    owner = meta.owner if meta else ""
    if not actor.may(Action.DELETE_DATASET, owner or None):
        raise UploadError(f"The dataset {name} belongs to {owner or 'nobody (not an upload)'}"
                          f"; {actor.record_name} may not delete it (only its owner or an "
                          f"admin may).")
    trash = leftovers.temporary_dir(data_dir, f"{DELETING}{name}")
    os.replace(folder, trash / name)  # gone from the list at once, even if rmtree is slow
    shutil.rmtree(trash)


def _unrecorded(folder: Path) -> UploadedDataset:
    count, size = _count_images(folder)
    return UploadedDataset(folder.name, str(folder), "", count, size, folder.stat().st_mtime)


def _count_images(folder: Path) -> tuple[int, int]:
    """(number, bytes) of the visible image files under ``folder``."""
    count = size = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and is_image_name(name):
                count, size = count + 1, size + os.path.getsize(os.path.join(dirpath, name))
    return count, size


# --- writing safely -------------------------------------------------------------------


def _new_target(data_dir: Path, name: str) -> tuple[Path, Path]:
    target = Path(data_dir) / check_name(name)
    if target.exists() or target.is_symlink():
        raise UploadError(f"A dataset named {name} already exists in {data_dir}; choose "
                          "another name (uploads never overwrite).")
    return Path(data_dir), target


STAGING = ".upload-"  # data/.upload-<name>+<host>+<pid>+...: an upload being written
DELETING = ".deleting-"
MOVING_FILE = ".moving.json"  # in a staging folder: its images are being moved into a dataset
UPLOAD_OVERHEAD = 64 * 1024  # folders and the metadata file


@contextmanager
def _staging(data_dir: Path, name: str) -> Iterator[Path]:
    """A hidden temporary folder in ``data_dir``, removed on the way out, whatever happens
    (after a successful :func:`_rename_into_place` there is nothing left to remove). One
    that a killed upload left is removed here, by the next upload
    (:mod:`tuning_core.core.leftovers`). A full disk is said as one: how much is free where."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _finish_moves(data_dir)
    leftovers.remove_stale(data_dir, STAGING)
    leftovers.remove_stale(data_dir, DELETING)
    tmp = leftovers.temporary_dir(data_dir, f"{STAGING}{name}")
    try:
        yield tmp
    except OSError as error:
        if diskspace.is_disk_full(error):
            shutil.rmtree(tmp, ignore_errors=True)  # measured after what it held is freed
            raise UploadError(f"{diskspace.full_error(data_dir)}; the upload {name} was not "
                              "kept (nothing of it is left).") from error
        raise UploadError(f"Could not write the upload {name} into {data_dir}: {error}.") \
            from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_disk(data_dir: Path, need: int, name: str) -> None:
    """Refuse, in one line, an upload whose unpacked files the disk cannot hold."""
    try:
        diskspace.ensure_free(data_dir, need + UPLOAD_OVERHEAD, f"the upload {name}")
    except DiskFullError as error:
        raise UploadError(f"{error}; nothing was written.") from error


def _size(stream: BinaryIO) -> int:
    """Bytes left to read in ``stream`` (0 when it cannot tell: the copy still counts)."""
    size = getattr(stream, "size", None)
    if isinstance(size, int):
        return size
    try:
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
        return max(0, end - here)
    except (OSError, AttributeError, ValueError):
        return 0


def _flush(out: BinaryIO) -> None:
    """Each file reaches the disk before the folder takes its name: a power cut after the
    rename never leaves an uploaded dataset of empty files that looks whole."""
    out.flush()
    os.fsync(out.fileno())


def _rename_into_place(tmp: Path, target: Path) -> None:
    if target.exists() or target.is_symlink():  # someone took the name meanwhile
        raise UploadError(f"A dataset named {target.name} already exists in "
                          f"{target.parent}; choose another name.")
    _sync_folders(tmp)
    os.rename(tmp, target)
    _sync_folders(target.parent, deep=False)


def _sync_folders(root: Path, deep: bool = True) -> None:
    """fsync ``root`` (and every folder under it): their entries survive a power cut."""
    folders = [root] + ([Path(d) for d, _, _ in os.walk(root)][1:] if deep else [])
    for folder in folders:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_meta(folder: Path, meta: UploadedDataset) -> None:
    """Write the metadata whole or not at all (:mod:`tuning_core.core.atomic`, with fsync)."""
    atomic.write_json(folder / META_FILE, meta.to_dict(), sort_keys=True)


def _read_meta(folder: Path) -> UploadedDataset | None:
    """The folder's metadata (its path set to where it is now), or None when unreadable."""
    try:
        data = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        return replace(UploadedDataset.from_dict(data), path=str(folder))
    except (OSError, ValueError, TypeError, KeyError):
        return None
