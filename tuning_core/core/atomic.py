"""Files written whole or not at all: a kill or a power cut at any moment leaves the old or
the new file, and the small precious ones keep their previous version beside them.

Each writer writes a temporary sibling (same folder, so the rename stays on one file
system), flushes it to disk, renames it over the target (POSIX ``rename`` is atomic) and
then flushes the folder, so that after a power cut the new name is on disk too: a rename
the folder never flushed may come back as the old file, or on some file systems as an
empty one. KerasTuner's own JSON files get the same treatment through
:func:`patch_keras_tuner`.

Precious files (``run.json``, ``notes.json``, the lab's accounts, settings and revoked
sessions) are written with ``keep_previous``: the version being replaced stays as
``<name>.bak`` (a hard link to the old file, never written again), and the first version
gets a copy there. :func:`read_json` reads them back; a file found unreadable (zero length,
cut short, not JSON: what a file system may leave of a file it had not flushed when the
power went) is restored from its ``.bak`` with a logged notice instead of failing.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

BACKUP_SUFFIX = ".bak"
log = logging.getLogger(__name__)


def backup_path(path: str | Path) -> Path:
    """Where the previous version of a precious file is kept: ``<name>.bak`` beside it."""
    path = Path(path)
    return path.with_name(path.name + BACKUP_SUFFIX)


def write_bytes(path: str | Path, data: bytes, mode: int | None = None,
                keep_previous: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically and durably; ``mode``: its permissions (e.g.
    0o600 for the lab's accounts), set before it takes the name, else mkstemp's owner-only
    0o600. With ``keep_previous`` the version replaced stays as ``<name>.bak`` (see
    :func:`read_json`). Raises OSError (a full disk: ENOSPC) with ``path`` unchanged."""
    path = Path(path)
    tmp = _temporary(path, data, mode)
    try:
        # nothing readable to keep, and no spare yet: the new version is its own spare
        first = keep_previous and not _keep_previous(path) and _read_spare(path) is None
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    if first:
        try:
            _replace_durably(backup_path(path), data, mode)
        except OSError as error:  # the write itself is done: say so, not that it failed
            log.warning("%s was written but its spare %s was not: %s", path,
                        backup_path(path).name, error)


def _temporary(path: Path, data: bytes, mode: int | None) -> str:
    """``data`` in a flushed temporary sibling of ``path``; its name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _replace_durably(path: Path, data: bytes, mode: int | None) -> None:
    tmp = _temporary(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _keep_previous(path: Path) -> bool:
    """Link the readable current ``path`` as ``<name>.bak`` (replacing the older one); False
    when there is none to keep. An unreadable current file never displaces a good spare."""
    try:
        current = path.read_bytes()
        json.loads(current)
    except (OSError, ValueError):
        return False
    fd, link = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".bak.tmp", dir=path.parent)
    os.close(fd)
    os.unlink(link)
    try:
        os.link(path, link)
        os.replace(link, backup_path(path))
    except OSError as error:
        Path(link).unlink(missing_ok=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise
        # a file system without hard links: a copy does as well, a little slower
        _replace_durably(backup_path(path), current, path.stat().st_mode & 0o777)
    return True


def fsync_dir(folder: str | Path) -> None:
    """Flush a folder's entries (names made, renamed, removed) to disk."""
    with contextlib.suppress(OSError):  # a file system that cannot open folders to flush
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path: str | Path, text: str, mode: int | None = None,
               keep_previous: bool = False) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    write_bytes(path, text.encode("utf-8"), mode, keep_previous)


def write_json(path: str | Path, data: Any, indent: int | None = 1,
               sort_keys: bool = False, keep_previous: bool = False,
               mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` as JSON atomically (``keep_previous``: the version
    replaced stays as ``<name>.bak`` for :func:`read_json`)."""
    text = json.dumps(data, indent=indent, default=str, sort_keys=sort_keys)
    write_text(path, text, mode, keep_previous)


def read_json(path: str | Path) -> Any:
    """The JSON in ``path``; when it is unreadable (empty, cut short, not JSON) and its
    ``.bak`` reads, that previous version is put back in its place (a logged notice) and
    returned.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not JSON and has no readable previous version.
    """
    path = Path(path)
    seen = _identity(path)
    data = path.read_bytes()
    try:
        return json.loads(data)
    except ValueError as error:
        spare = _read_spare(path)
        if spare is None:
            raise
        if _identity(path) != seen:  # a writer put a new version meanwhile: that one
            with contextlib.suppress(ValueError, OSError):
                return json.loads(path.read_bytes())
        log.warning("%s was unreadable (%s, %d bytes); restored its previous version from "
                    "%s", path, error, len(data), backup_path(path).name)
        with contextlib.suppress(OSError):  # a read-only or full disk: still answer
            _replace_durably(path, spare[0], spare[1])
        return spare[2]


def _identity(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns, info.st_size


def _read_spare(path: Path) -> tuple[bytes, int, Any] | None:
    spare = backup_path(path)
    try:
        data = spare.read_bytes()
        return data, spare.stat().st_mode & 0o777, json.loads(data)
    except (OSError, ValueError):
        return None


def swap_dir(staged: str | Path, target: str | Path) -> None:
    """Put the folder ``staged`` in place of ``target``; the old ``target`` is kept until then.

    Every file of ``staged`` is flushed first, so a power cut after the swap never finds the
    new folder's names with empty files. A kill between the two renames leaves ``target``
    missing and ``<target>.old`` present; :func:`recover_dir` puts the old one back.
    """
    staged, target = Path(staged), Path(target)
    _fsync_tree(staged)
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for here, _folders, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                fd = os.open(os.path.join(here, name), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        fsync_dir(here)


def recover_dir(target: str | Path) -> None:
    """Undo a :func:`swap_dir` that a kill cut in half (the old folder comes back)."""
    target = Path(target)
    old = target.with_name(target.name + ".old")
    if old.is_dir() and not target.exists():
        with contextlib.suppress(FileNotFoundError):  # another reader recovered it first
            os.replace(old, target)
            fsync_dir(target.parent)


def torn_tail(fd: int) -> bytes:
    """b"\\n" when the file open at ``fd`` ends in a line cut short (a kill or a power cut
    mid-append), else b"": what an append must write first so its line stays whole."""
    size = os.fstat(fd).st_size
    return b"\n" if size and os.pread(fd, 1, size - 1) != b"\n" else b""


def append_line(path: str | Path, line: bytes, sync: bool = False) -> None:
    """Append ``line`` (ending in a newline) to ``path`` in one write, on a fresh line after
    a torn one, never glued to it (the torn one stays a line the readers skip);
    ``sync``: flush it to disk before returning."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, torn_tail(fd) + line)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def patch_keras_tuner() -> None:
    """Make KerasTuner write its JSON files (oracle, trials, tuner) atomically.

    keras-tuner 1.4.8 writes them in place through ``utils.save_json``; a kill mid-write
    leaves half a ``oracle.json`` and the run can no longer be resumed. Every caller looks
    the function up on the module at call time, so replacing it there covers them all.
    """
    from keras_tuner.src import utils

    if getattr(utils.save_json, "_atomic", False):
        return

    def save_json(path: str, obj: Any) -> str:
        text = json.dumps(obj)
        write_text(path, text)
        return text

    save_json._atomic = True  # type: ignore[attr-defined]
    utils.save_json = save_json
