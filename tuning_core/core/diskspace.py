"""Free disk space, measured before a write and recognised after one failed.

A full disk must be a state, not a crash: h5py, given "No space left on device" mid-file,
leaves a handle whose close fails again later and takes the process down (a segfault). So
writers measure first (:func:`ensure_free`) and fail with a :class:`DiskFullError` while
there is still room for the lines that say so, and any ENOSPC that still surfaces is
recognised (:func:`is_disk_full`) and turned into the same error.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tuning_core.core.errors import DiskFullError

REASON = "disk full"  # a search's end reason, beside "stopped" and "budget"
# Kept free beyond an estimate: the trial log's lines, KerasTuner's JSON files and the
# search's end line must still fit once a write is refused.
RESERVE_BYTES = 1 << 20
_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# h5py and KerasTuner's failed-trial text carry the errno only inside their message.
_MARKS = ("No space left on device", "errno = 28", "Errno 28", "Disk quota exceeded")


def existing(path: str | Path) -> Path:
    """``path`` or its nearest ancestor that exists (a folder about to be made)."""
    here = Path(path).absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    return here


def filesystem(path: str | Path) -> Path:
    """The mount point of the filesystem that holds (or will hold) ``path``."""
    here = existing(path)
    while not os.path.ismount(here) and here != here.parent:
        here = here.parent
    return here


def free_bytes(path: str | Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem of ``path``."""
    return shutil.disk_usage(existing(path)).free


def megabytes(n: float) -> str:
    """Bytes for people: "0.7 MB", "12 MB", "2,048 MB"."""
    mb = n / 1e6
    return f"{mb:.1f} MB" if mb < 10 else f"{mb:,.0f} MB"


def full_error(path: str | Path, need: int = 0, what: str = "") -> DiskFullError:
    """The error for a full disk under ``path``, with the free space measured now;
    ``what`` (e.g. "trial 3's checkpoint") and ``need`` (bytes) say what did not fit."""
    free, mount = free_bytes(path), str(filesystem(path))
    text = f"disk full: {megabytes(free)} free on {mount}"
    if what:
        text += f"; {what} needs about {megabytes(need)}" if need else f" for {what}"
    return DiskFullError(text, free, mount, need)


def ensure_free(path: str | Path, need: int, what: str,
                reserve: int = RESERVE_BYTES) -> None:
    """Raise DiskFullError unless ``need`` bytes plus ``reserve`` are free under ``path``."""
    if free_bytes(path) < need + reserve:
        raise full_error(path, need, what)


def is_disk_full(error: BaseException | None) -> bool:
    """True when ``error`` or any error it came from is "no space left" (or a quota)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, DiskFullError):
            return True
        if isinstance(error, OSError) and error.errno in _ERRNOS:
            return True
        if any(mark in str(error) for mark in _MARKS):
            return True
        error = error.__cause__ or error.__context__
    return False


def as_disk_full(error: BaseException, path: str | Path) -> DiskFullError:
    """``error`` as a DiskFullError measured under ``path`` (itself when it is one)."""
    return error if isinstance(error, DiskFullError) else full_error(path)


@contextmanager
def said_as_full(path: str | Path, what: str = "") -> Iterator[None]:
    """Inside, a "no space left" OSError becomes a DiskFullError measured under ``path``
    (one line for people, as any refusal), any other error passes as it is."""
    try:
        yield
    except OSError as error:
        if not is_disk_full(error):
            raise
        raise full_error(path, what=what) from error
