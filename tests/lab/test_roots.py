"""Data roots: a catalogue of ways out of a root, each refused with a message, nothing read."""

from __future__ import annotations

import builtins
import io
import os
import socket
from pathlib import Path

import pytest

from tuning_core.core.errors import AccessDeniedError
from tuning_core.lab.config import LabConfig
from tuning_core.lab.roots import Expect, data_roots, list_roots, resolve_inside


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "root"
    (root / "digits" / "0").mkdir(parents=True)
    (root / "digits" / "0" / "a.png").write_bytes(b"png")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"secret")
    (root / "link_out").symlink_to(outside)
    (root / "link_in").symlink_to(root / "digits")
    (root / "digits" / "deep_out").symlink_to(outside / "secret.png")
    (root / "null").symlink_to("/dev/null")
    os.mkfifo(root / "fifo")
    return {"root": root, "outside": outside}


@pytest.fixture
def nothing_opened(monkeypatch: pytest.MonkeyPatch):
    """Any attempt to open a file during the check fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"opened {args[:1]} during a path check")

    for target, name in ((builtins, "open"), (io, "open"), (os, "open")):
        monkeypatch.setattr(target, name, refuse)


def test_paths_inside_are_resolved(tree, nothing_opened) -> None:
    root = tree["root"]
    assert resolve_inside(root / "digits", [root]) == root / "digits"
    # relative: from the first root; a link that stays inside is fine
    assert resolve_inside("digits/0", [root]) == root / "digits" / "0"
    assert resolve_inside(str(root / "link_in"), [root]) == root / "digits"
    assert resolve_inside(root / "digits/0/a.png", [root], Expect.FILE) == root / "digits/0/a.png"


CATALOGUE = [
    ("../outside", "'..'"),
    ("digits/../../outside", "'..'"),
    ("{root}/../outside/secret.png", "'..'"),
    ("{outside}", "inside the data roots"),
    ("/etc", "inside the data roots"),
    ("/", "inside the data roots"),
    ("link_out", "symbolic link"),
    ("link_out/secret.png", "symbolic link"),
    ("digits/deep_out", "symbolic link"),
    ("null", "symbolic link"),
    ("%2e%2e%2foutside", "percent-encoded"),
    ("..%2Foutside", "percent-encoded"),
    ("%252e%252e%252f", "percent-encoded"),
    ("digits%00", "percent-encoded"),
    ("\uff0e\uff0e\uff0foutside", "look like"),       # fullwidth ../
    ("..\uff0foutside", "look like"),
    ("\u2024\u2024/outside", "look like"),             # one-dot leaders
    ("..\u2215outside", "look like"),                  # division slash
    ("..\\outside", "look like"),
    ("digits\x00/../../outside", "NUL"),
    ("digits\n", "control"),
    ("missing", "existing folder"),
]


@pytest.mark.parametrize(("spelling", "reason"), CATALOGUE, ids=[ascii(c[0]) for c in CATALOGUE])
def test_ways_out_are_refused(tree, nothing_opened, spelling: str, reason: str) -> None:
    path = spelling.format(root=tree["root"], outside=tree["outside"])
    with pytest.raises(AccessDeniedError, match=reason):
        resolve_inside(path, [tree["root"]])


def test_the_wrong_kind_is_refused(tree, nothing_opened, tmp_path: Path) -> None:
    root = tree["root"]
    with pytest.raises(AccessDeniedError, match=r"expected a folder; .* is a file"):
        resolve_inside("digits/0/a.png", [root])
    with pytest.raises(AccessDeniedError, match=r"expected a file; .* is a folder"):
        resolve_inside("digits", [root], Expect.FILE)
    with pytest.raises(AccessDeniedError, match="is a FIFO"):
        resolve_inside("fifo", [root], Expect.FILE)
    with pytest.raises(AccessDeniedError, match="is a character device"):
        resolve_inside("/dev/null", [Path("/dev")], Expect.FILE)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock"))
        with pytest.raises(AccessDeniedError, match="is a socket"):
            resolve_inside("sock", [root], Expect.FILE)


def test_no_roots_refuses_everything(tree) -> None:
    with pytest.raises(AccessDeniedError, match="no data roots"):
        resolve_inside(tree["root"], [])


def test_roots_are_the_workspace_data_and_the_configured_ones(workspace: Path, tree) -> None:
    config = LabConfig(data_roots=(str(tree["root"]), str(workspace / "absent")))
    roots = data_roots(config)
    assert roots[0] == workspace / "data" and tree["root"] in roots
    assert list_roots(config) == [workspace / "data", tree["root"]]  # only folders that exist
    assert resolve_inside(tree["root"] / "digits", roots) == tree["root"] / "digits"
