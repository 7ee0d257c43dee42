"""Files of lab mode: the ``lab/`` folder of the workspace, atomic writes and a file lock.

Every lab file (accounts, config, revoked sessions, the signing secret) is written whole
to a temporary file in the same folder and moved into place with ``os.replace``, so a
reader never sees half a file; writers of one file take an ``fcntl`` lock on a sibling
``.lock`` file, so two processes (the server and ``python -m tuning_core user ...``)
never lose each other's changes. The JSON files keep their previous version as
``<name>.bak`` and are restored from it when a power cut left them unreadable
(:mod:`tuning_core.core.atomic`); a write the disk has no room for changes nothing and
says so in one line (:class:`DiskFullError`).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

from tuning_core.core import atomic, diskspace
from tuning_core.core.errors import LabConfigError
from tuning_core.core.workspace import lab_path

PRIVATE = 0o600
T = TypeVar("T")


def lab_dir(workspace: Path | None = None) -> Path:
    """``<workspace>/lab``, created readable by its owner only."""
    path = lab_path(workspace)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def atomic_write_text(path: Path, text: str, mode: int = PRIVATE) -> None:
    """Replace ``path`` with ``text`` in one step (:mod:`tuning_core.core.atomic`: temp file,
    fsync, ``os.replace``), private to this user unless ``mode`` says otherwise."""
    atomic.write_text(path, text, mode)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``<path>.lock`` (across processes) while inside."""
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_json(path: Path, default: Any) -> Any:
    """The JSON in ``path`` (restored from ``<name>.bak`` when a crash left it unreadable),
    or ``default`` when the file does not exist.

    Raises LabConfigError when the file exists but is not JSON and has no readable
    previous version.
    """
    try:
        return atomic.read_json(path)
    except FileNotFoundError:
        return default
    except json.JSONDecodeError as error:
        raise LabConfigError(f"expected JSON in {path}; line {error.lineno}: "
                             f"{error.msg}.") from error
    except ValueError as error:  # not UTF-8
        raise LabConfigError(f"expected JSON in {path}; {error}.") from error


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically, readable by the owner only, keeping the
    version replaced as ``<name>.bak``.

    Raises DiskFullError (one line, the file unchanged) when the disk has no room for it.
    """
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    try:
        atomic.write_text(path, text, PRIVATE, keep_previous=True)
    except OSError as error:
        if not diskspace.is_disk_full(error):
            raise
        raise diskspace.full_error(path.parent, 0, f"writing {path} (it is unchanged)") \
            from error


class FileCache(Generic[T]):
    """What ``load`` made of a file, kept until the file changes (its mtime or size).

    Lab files are read on every request; they change only when someone edits an account
    or logs out, so each process parses them once per change.
    """

    def __init__(self, path: Path, load: Callable[[], T], empty: T) -> None:
        self.path, self._load, self._empty = path, load, empty
        self._cache: tuple[tuple[int, int], T] | None = None

    def get(self) -> T:
        """The loaded value (``empty`` while the file does not exist)."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return self._empty
        key = (info.st_mtime_ns, info.st_size)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._load())
        return self._cache[1]
