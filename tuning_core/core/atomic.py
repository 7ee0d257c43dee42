"""Files written whole or not at all: a kill at any moment leaves the old or the new file.

Each writer writes a temporary sibling (same folder, so the rename stays on one file
system), flushes it to disk and renames it over the target; POSIX ``rename`` is atomic.
KerasTuner's own JSON files get the same treatment through :func:`patch_keras_tuner`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def write_bytes(path: str | Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically; ``mode``: its permissions (e.g. 0o600 for
    the lab's accounts), set before it takes the name, else mkstemp's owner-only 0o600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    write_bytes(path, text.encode("utf-8"), mode)


def write_json(path: str | Path, data: Any, indent: int | None = 1,
               sort_keys: bool = False) -> None:
    """Replace ``path`` with ``data`` as JSON atomically."""
    write_text(path, json.dumps(data, indent=indent, default=str, sort_keys=sort_keys))


def swap_dir(staged: str | Path, target: str | Path) -> None:
    """Put the folder ``staged`` in place of ``target``; the old ``target`` is kept until then.

    A kill between the two renames leaves ``target`` missing and ``<target>.old`` present;
    :func:`recover_dir` puts the old one back.
    """
    staged, target = Path(staged), Path(target)
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(target: str | Path) -> None:
    """Undo a :func:`swap_dir` that a kill cut in half (the old folder comes back)."""
    target = Path(target)
    old = target.with_name(target.name + ".old")
    if old.is_dir() and not target.exists():
        os.replace(old, target)


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
