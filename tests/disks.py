"""Real small disks for the full-disk tests (issue 27): a tmpfs of a chosen size, and a filler
that takes its space as another program would. Mounting needs root; elsewhere the tests that
ask for a disk are skipped with that reason (the suite's CI runs as root)."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Mount = Callable[[str], Path]  # a size as mount(8) reads it ("1m", "600k") -> the mounted folder


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Mount]:
    """Mounts tmpfs file systems of a given size under ``tmp_path`` (unmounted after)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("filling a real disk needs a small tmpfs, and mounting one needs root")
        target = tmp_path / f"disk{len(mounted)}"
        target.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                 str(target)], capture_output=True, text=True)
        if result.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(target)
        return target

    yield mount
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], check=False)


def fill(folder: Path, leave: int = 0) -> Path:
    """A file ``filler`` in ``folder`` that takes every free byte but ``leave``; its path."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        room = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize - leave
        try:
            while room > 0:
                written = out.write(b"\0" * min(65536, room))
                room -= written
            if not leave:
                while out.write(b"\0" * 4096):
                    pass
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    return filler
