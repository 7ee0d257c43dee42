"""Path traversal against the pages in lab mode: every way out of the data roots is refused.

tuning_core/lab/roots.py has its own unit tests (tests/lab/test_roots.py); here the dashboard itself
runs under AppTest in lab mode, logged in as a member (the cookie hook, as in
tests/pages/test_auth.py), and each path of a catalogue is typed into the Data page: each
is refused with a message and nothing is scanned. The Best page's gallery shows no image
whose path escapes, and the Search page cannot launch on an outside folder. That the engine
refuses ``..``, absolute outside paths and a symlink out for a search is
tests/lab/test_actor.py::test_a_search_reads_images_only_inside_the_data_roots; the spellings
it does not try (encodings, look-alikes, devices, FIFOs) are tried below.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import streamlit as st

from pages.common import auth
from pages.views import data_folder
from tests.conftest import write_image_folder
from tests.lab.test_actor import _config
from tests.pages.support import click, make_run, new_app, problems
from tuning_core.core.errors import AccessDeniedError
from tuning_core.core.workspace import runs_dir
from tuning_core.data import dataset
from tuning_core.jobs.registry import JobRegistry
from tuning_core.lab.accounts import Role, User, user_store
from tuning_core.lab.actor import Actor
from tuning_core.lab.audit import AuditLog
from tuning_core.lab.config import LAB_ENV, LabConfig, save_lab_config
from tuning_core.lab.sessions import session_manager
from tuning_core.runs.rundir import RunDir

SMALL = {"cats": 3, "dogs": 3}


@dataclass(frozen=True)
class Lab:
    """The folders of a lab workspace: its data root, an extra root, and the world outside."""

    data: Path
    extra: Path
    outside: Path
    scanned: list[str]
    probed: list[Path]

    @property
    def roots(self) -> list[Path]:
        return [Path(os.path.realpath(self.data)), Path(os.path.realpath(self.extra))]

    def inside(self, path: str | Path) -> bool:
        real = Path(os.path.realpath(path))
        return any(real == r or r in real.parents for r in self.roots)


@pytest.fixture
def lab(clean_caches: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lab:
    """Lab mode over a fresh workspace, member mia logged in, scans and image reads recorded."""
    workspace = clean_caches
    data, extra, outside = workspace / "data", tmp_path / "extra", tmp_path / "outside"
    write_image_folder(data / "digits", SMALL)
    write_image_folder(extra / "set", SMALL)
    write_image_folder(outside / "set", SMALL)
    write_image_folder(workspace / "data_evil" / "set", SMALL)  # a root's name as a prefix
    (data / "out").symlink_to(outside / "set")
    (extra / "up").symlink_to(outside)
    (data / "null").symlink_to("/dev/null")
    os.mkfifo(data / "pipe")
    os.mkfifo(outside / "pipe")
    save_lab_config(LabConfig(data_roots=(str(extra),)), workspace)

    monkeypatch.setenv(LAB_ENV, "1")
    auth._sessions.clear()
    store = user_store()
    store.add("mia", Role.MEMBER, "mia-password-123")
    token, _ = session_manager().issue(store.get("mia"))
    monkeypatch.setattr(auth, "_session_cookie", lambda: token)

    scanned: list[str] = []
    probed: list[Path] = []
    real_scan, real_probe = data_folder.scan, dataset._probe

    def scan(folder, roots=None):
        scanned.append(str(folder))
        return real_scan(folder, roots)

    def probe(path):
        probed.append(Path(path))
        return real_probe(path)

    monkeypatch.setattr(data_folder, "scan", scan)
    monkeypatch.setattr(dataset, "_probe", probe)
    yield Lab(data, extra, outside, scanned, probed)
    auth._sessions.clear()


def catalogue(lab: Lab) -> dict[str, str]:
    """Ways to name something outside the roots (or not a folder), as a user would type them."""
    data, extra, out = lab.data, lab.extra, lab.outside
    return {
        "relative ..": "../../outside/set",
        "relative .. through a class": "digits/../../../outside/set",
        "absolute ..": f"{data}/../../outside/set",
        "extra root ..": f"{extra}/../outside/set",
        "trailing ..": f"{data}/..",
        "absolute outside": str(out / "set"),
        "etc": "/etc",
        "filesystem root": "/",
        "the workspace (accounts, secret)": str(data.parent),
        "the workspace's lab folder": str(data.parent / "lab"),
        "a root's name as a prefix": str(data.parent / "data_evil" / "set"),
        "symlink out of the data root": f"{data}/out",
        "symlink out, then down": f"{data}/out/cats",
        "symlink out of the extra root": f"{extra}/up/set",
        "percent-encoded ..": "%2e%2e/%2e%2e/outside/set",
        "percent-encoded .. after a root": f"{data}/%2e%2e/%2e%2e/outside/set",
        "percent-encoded slashes": f"{data}%2f..%2f..%2foutside%2fset",
        "percent-encoded absolute": str(out / "set").replace("/", "%2F"),
        "double-encoded ..": "%252e%252e/%252e%252e/outside/set",
        "fullwidth dots": "\uff0e\uff0e/\uff0e\uff0e/outside/set",
        "fullwidth slash": f"{data}\uff0f..\uff0f..\uff0foutside\uff0fset",
        "one-dot leaders": f"{data}/\u2024\u2024/\u2024\u2024/outside/set",
        "two-dot leader": f"{data}/\u2025/\u2025/outside/set",
        "division slash": f"{data}\u2215..\u2215..\u2215outside",
        "backslashes": "..\\..\\outside\\set",
        "NUL byte": f"{data}/digits\x00/../../../outside/set",
        "newline": f"{data}/digits\n/../../outside/set",
        "a device": "/dev/zero",
        "a symlink to a device in a root": f"{data}/null",
        "a FIFO in a root": f"{data}/pipe",
        "a FIFO outside": str(out / "pipe"),
    }


def _folder_input(at):
    return next(t for t in at.text_input if t.label == "Image folder")


def _scan(at, folder: str):
    _folder_input(at).set_value(folder)
    return click(at, "Scan folder")


def test_the_data_page_refuses_every_path_out_of_the_roots(lab: Lab) -> None:
    at = new_app().run()
    assert not problems(at) and not at.error
    wrong = []
    for name, path in catalogue(lab).items():
        at = _scan(at, path)
        messages = [e.value for e in at.error]
        if problems(at) or not messages or lab.scanned or lab.probed:
            wrong.append((name, path, problems(at), messages, lab.scanned[:], lab.probed[:3]))
        lab.scanned.clear()
        lab.probed.clear()
    assert not wrong, "\n".join(map(repr, wrong))


def test_the_data_page_scans_a_folder_inside_a_root(lab: Lab) -> None:
    at = new_app().run()
    for path in (f"{lab.data}/digits", "digits", f"{lab.extra}/set"):
        st.cache_data.clear()  # "digits" is the first one again: scan it anew
        at = _scan(at, path)
        assert not problems(at) and not at.error, [e.value for e in at.error]
        assert [m.value for m in at.metric if m.label == "Classes"] == ["2"]
        assert lab.scanned and all(lab.inside(f) for f in lab.scanned), lab.scanned
        assert lab.probed and all(lab.inside(p) for p in lab.probed)
        lab.scanned.clear()
        lab.probed.clear()


def test_the_search_page_cannot_launch_on_an_outside_folder(lab: Lab) -> None:
    at = new_app().run()
    at = _scan(at, str(lab.outside / "set"))  # refused, yet the session remembers the text
    assert at.error and not lab.scanned
    at.switch_page("pages/search.py").run()
    at = click(at, "Launch search")
    at = click(at, "Confirm launch")
    assert any("data roots" in e.value for e in at.error), [e.value for e in at.error]
    assert not problems(at)
    assert not runs_dir().exists() or not any(runs_dir().iterdir())
    assert not lab.probed


def test_the_folder_picker_offers_no_folder_outside_the_roots(lab: Lab) -> None:
    at = new_app().run()
    picker = [s for s in at.selectbox if s.label == "Or pick a folder in the workspace"]
    assert picker, [s.label for s in at.selectbox]
    options = list(picker[0].options)
    assert f"{lab.data}/digits" in options
    assert all(lab.inside(o) for o in options), options


def test_a_symlink_inside_a_dataset_is_not_followed_out(lab: Lab) -> None:
    mixed = write_image_folder(lab.data / "mixed", {"cats": 3})
    (mixed / "cats" / "stolen.png").symlink_to(lab.outside / "set" / "cats" / "cats_000.png")
    (mixed / "dogs").symlink_to(lab.outside / "set" / "dogs")
    at = _scan(new_app().run(), str(mixed))
    assert not problems(at)
    outside = [p for p in lab.probed if not lab.inside(p)]
    assert lab.probed and not outside, outside


def _evaluation(items: list[tuple[str, str]]) -> dict:
    return {"test_accuracy": 0.5, "test_loss": 0.7, "test_images": 6,
            "confusion_matrix": [[2, 1], [1, 2]], "classes": ["cats", "dogs"],
            "per_class": [{"class": c, "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 3}
                          for c in ("cats", "dogs")],
            "misclassified": [{"path": path, "true": name, "predicted": "dogs",
                               "confidence": 0.5} for name, path in items]}


def _gallery_captions(at) -> list[str]:
    return [caption for element in at.get("image") for caption in element.captions]


def test_the_gallery_shows_no_image_whose_path_escapes(lab: Lab) -> None:
    gallery = write_image_folder(lab.data / "gallery", SMALL)
    (gallery / "cats" / "link.png").symlink_to(lab.outside / "set" / "cats" / "cats_000.png")
    os.mkfifo(gallery / "cats" / "pipe.png")
    escapes = {
        "dotdot": "../../../outside/set/cats/cats_000.png",
        "passwd": "../../../../../../../../etc/passwd",
        "absolute": str(lab.outside / "set" / "cats" / "cats_001.png"),
        "link": "cats/link.png",
        "percent": "%2e%2e/%2e%2e/%2e%2e/outside/set/cats/cats_000.png",
        "fullwidth": "\uff0e\uff0e/\uff0e\uff0e/\uff0e\uff0e/outside/set/cats/cats_000.png",
        "device": "/dev/zero",
        "fifo": "cats/pipe.png",
    }
    run = make_run(runs_dir(), gallery)
    best = RunDir(run).best_dir
    best.mkdir(parents=True, exist_ok=True)
    items = [("fine", "cats/cats_000.png"), *escapes.items()]
    (best / "evaluation.json").write_text(json.dumps(_evaluation(items)))
    at = new_app().run()
    at.switch_page("pages/best.py").run()
    assert not problems(at), problems(at)
    assert any("Misclassified test images (9)" in h.value for h in at.subheader)
    assert _gallery_captions(at) == ["true fine → dogs (50%)"]


def test_the_engine_refuses_the_other_spellings_for_a_search(lab: Lab, tmp_path: Path) -> None:
    mia = Actor(User("mia", Role.MEMBER), "127.0.0.1", AuditLog(tmp_path / "audit.jsonl"),
                lab.roots)
    started: list[Path] = []

    def search(run_dir: Path) -> str:
        started.append(run_dir)
        return "finished"

    registry = JobRegistry(tmp_path / "runs", search=search)
    skip = {"relative ..", "absolute outside", "etc", "symlink out of the data root"}  # test_actor
    for name, path in catalogue(lab).items():
        if name in skip:
            continue
        with pytest.raises(AccessDeniedError):
            registry.start_search(_config(Path(path)), mia)
    runs = tmp_path / "runs"
    assert not started and (not runs.exists() or not any(runs.iterdir()))
    registry.start_search(_config(lab.data / "digits"), mia)  # the same actor, inside: starts
    assert registry.wait(30) and len(started) == 1
