"""Temporary names that say who writes them, and the removal of those whose writer is gone.

A write that must appear whole (an export's zip, an uploaded dataset) goes to a hidden
temporary name first and is renamed once complete; a kill or a full disk leaves the
temporary behind. Its name carries the writer's host and process id (``<prefix>+<host>+
<pid>+<random>``), so a later writer removes the ones whose process on this host has ended,
and, from another host of a shared workspace, those older than :data:`STALE_AFTER_S`,
without touching one that is being written now.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

STALE_AFTER_S = 24 * 3600.0  # another host's temporary this old is no longer being written
SEPARATOR = "+"  # never in a host name


def tag(prefix: str) -> str:
    """``prefix`` followed by this writer's host and process id (and a separator)."""
    return f"{prefix}{SEPARATOR}{socket.gethostname()}{SEPARATOR}{os.getpid()}{SEPARATOR}"


def temporary_dir(folder: Path, prefix: str) -> Path:
    """A new hidden temporary folder in ``folder`` named after this writer."""
    return Path(tempfile.mkdtemp(prefix=tag(prefix), dir=folder))


def temporary_file(target: Path, prefix: str = ".") -> Path:
    """A temporary name beside ``target`` for this writer (not created)."""
    return target.with_name(f"{tag(prefix + target.name)}partial")


def is_stale(path: Path, now: float | None = None) -> bool:
    """True when ``path``'s writer is gone: its process on this host has ended, or it is
    another host's and older than STALE_AFTER_S. A name not made by :func:`tag`: False."""
    parts = path.name.rsplit(SEPARATOR, 3)
    if len(parts) != 4 or not parts[2].isdigit():
        return False
    host, pid = parts[1], int(parts[2])
    if host == socket.gethostname():
        return not _alive(pid)
    try:
        age = (now or time.time()) - path.lstat().st_mtime
    except OSError:
        return False
    return age > STALE_AFTER_S


def remove_stale(folder: Path, prefix: str) -> list[Path]:
    """Remove the stale temporaries in ``folder`` whose names start with ``prefix``;
    returns what was removed. Never raises: a cleanup must not stop the write after it."""
    removed = []
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return []
    for path in candidates:
        if not is_stale(path):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
