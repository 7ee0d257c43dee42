"""Data roots: in lab mode the server reads images only under these folders.

The roots are the workspace's data folder plus the folders an admin lists in the lab config
(``data_roots``). :func:`resolve_inside` checks a path a browser sent before anything is
opened: only names and metadata are looked at (``lstat``/``readlink`` through
``os.path.realpath``, then ``stat``), never the file's content.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from urllib.parse import unquote

from tuning_core.core.errors import AccessDeniedError
from tuning_core.core.workspace import data_dir, data_path
from tuning_core.lab.config import LabConfig

# Characters that look like '.', '/' or '\' to a person but are not (NFKC folds some of them).
LOOK_ALIKES = frozenset("\uff0e\uff0f\uff3c\u2024\u2025\u2026\u2215\u2044"
                        "\u29f8\u29f9\ufe52\u3002\u2027\u00b7\\")


class Expect(Enum):
    """What the caller will do with the path: list a folder, or serve a file."""

    FOLDER = "folder"
    FILE = "file"

    def accepts(self, mode: int) -> bool:
        """True when a ``stat`` mode is this kind (a device, FIFO or socket is neither)."""
        return stat.S_ISDIR(mode) if self is Expect.FOLDER else stat.S_ISREG(mode)


def data_roots(config: LabConfig | None = None, workspace: Path | None = None) -> list[Path]:
    """The workspace's data folder, then the config's roots, each fully resolved."""
    roots = [data_dir() if workspace is None else data_path(workspace)]
    roots += [Path(r).expanduser() for r in (config.data_roots if config else ())]
    return [Path(os.path.realpath(r)) for r in roots]


def list_roots(config: LabConfig | None = None, workspace: Path | None = None) -> list[Path]:
    """The data roots that exist as folders now (for the folder browser)."""
    return [r for r in data_roots(config, workspace) if r.is_dir()]


def _kind_name(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISREG, "a file"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "a special file")


def _check_text(text: str) -> None:
    """Refuse spellings meant to slip past a check: encodings, look-alikes, control bytes."""
    shown = ascii(text)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise AccessDeniedError(f"expected a plain path; {shown} holds a NUL or control character.")
    if unquote(text) != text:
        raise AccessDeniedError(f"expected a plain path; {shown} is percent-encoded (%xx).")
    if any(c in LOOK_ALIKES for c in text) or unicodedata.normalize("NFKC", text) != text:
        raise AccessDeniedError(f"expected a plain path; {shown} holds characters that only "
                                "look like '.', '/' or '\\' (or other compatibility forms).")
    if ".." in Path(text).parts:
        raise AccessDeniedError(f"expected a path without '..'; got {shown}.")


def _root_of(path: Path, roots: Sequence[Path]) -> Path | None:
    return next((r for r in roots if path == r or r in path.parents), None)


def resolve_inside(path: str | Path, roots: Sequence[Path], expect: Expect = Expect.FOLDER) -> Path:
    """The real path of ``path`` when it is an ``expect`` inside one of ``roots``.

    A relative path is taken from the first root. Raises AccessDeniedError, with the path
    and the reason, for: NUL/control characters, percent-encoding, look-alike Unicode,
    ``..``, a path outside every root (also through a symlink anywhere along it), a path
    that does not exist, and the wrong kind (a file for a folder, a folder, device, FIFO
    or socket for a file). The target is never opened. (A symlink swapped in after this
    check is outside what a path check can stop; serve files with ``O_NOFOLLOW``.)
    """
    text = os.fspath(path)
    _check_text(text)
    real_roots = [Path(os.path.realpath(r)) for r in roots]
    if not real_roots:
        raise AccessDeniedError("no data roots are configured; "
                                "an admin lists them in the lab config.")
    given = Path(os.path.normpath(real_roots[0] / text))  # an absolute ``text`` replaces the root
    names = ", ".join(map(str, real_roots))
    if _root_of(given, real_roots) is None and _root_of(given, [Path(r) for r in roots]) is None:
        raise AccessDeniedError(f"expected a path inside the data roots ({names}); got {text}.")
    real = Path(os.path.realpath(given))
    if _root_of(real, real_roots) is None:
        raise AccessDeniedError(f"{text} leads outside the data roots ({names}) through a "
                                f"symbolic link, to {real}.")
    try:
        mode = os.stat(real).st_mode
    except OSError as error:
        raise AccessDeniedError(f"expected an existing {expect.value}; "
                                f"{text}: {error.strerror}.") from error
    if not expect.accepts(mode):
        raise AccessDeniedError(f"expected a {expect.value}; {text} is {_kind_name(mode)}.")
    return real
