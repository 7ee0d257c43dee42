"""The Best model page's exports under AppTest: export and check, table, downloads, refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.pages.support import click, new_app, problems
from tuning_core.core.workspace import runs_dir
from tuning_core.model.exports import export_run, parse_targets

pytestmark = pytest.mark.training


def _open_best(augmented_run: Path):
    run = runs_dir() / augmented_run.name
    shutil.copytree(augmented_run, run, ignore=shutil.ignore_patterns("tuner", "cache"))
    at = new_app().run()
    at.switch_page("pages/best.py").run()
    assert not problems(at)
    return at, run


def _downloads(at) -> set[str]:
    return {b.label for b in at.get("download_button")}


def test_export_and_check_offers_the_files_that_passed(clean_caches, augmented_run: Path):
    at, _ = _open_best(augmented_run)
    assert at.multiselect(key="export_formats").value == ["saved_model", "onnx", "litert"]
    at.checkbox(key="export_quantize").check()
    click(at, "Export and check")
    assert not problems(at) and not at.error, [e.value for e in at.error]
    offered = _downloads(at)
    assert {"Download SavedModel (saved_model.zip)", "Download ONNX (onnx.zip)",
            "Download LiteRT (litert.zip)",
            "Download LiteRT (int8 weights) (litert_int8.zip)"} <= offered
    table = at.dataframe[-1].value
    assert list(table["check"]) == ["passed"] * 4 and (table["ms / image"] > 0).all()


def test_a_failed_export_is_not_offered_and_says_why(clean_caches, augmented_run: Path):
    run = runs_dir() / augmented_run.name
    shutil.copytree(augmented_run, run, ignore=shutil.ignore_patterns("tuner", "cache"))
    def keras_unaided(model, target, path, context) -> None:  # augmentation left in serve()
        model.export(str(path), format="tf_saved_model", verbose=False)

    export_run(run, parse_targets(["saved_model"]), prepare=lambda model: model,  # forced
               writer=keras_unaided)
    at = new_app().run()
    at.switch_page("pages/best.py").run()
    assert not problems(at)
    assert not any("SavedModel" in label for label in _downloads(at))
    [warning] = [w.value for w in at.warning if "not offered" in w.value]
    assert "SavedModel" in warning and "differ" in warning


def test_search_script_downloads_on_space_runs_and_best(clean_caches, image_folder: Path):
    from tests.pages.support import make_run
    from tuning_core.runs.rundir import RunDir
    from tuning_core.search.lifecycle import load_or_make_split

    run = make_run(runs_dir(), image_folder)
    load_or_make_split(RunDir(run))
    at = new_app().run()
    for page in ("pages/space.py", "pages/runs.py", "pages/best.py"):
        at.switch_page(page).run()
        assert not problems(at), page
        assert "Download search script (.py)" in _downloads(at), page


@pytest.fixture
def as_viewer(clean_caches, monkeypatch: pytest.MonkeyPatch):
    """Lab mode, logged in as vic (viewer)."""
    from pages.common import auth
    from tuning_core.lab.accounts import Role, user_store
    from tuning_core.lab.config import LAB_ENV
    from tuning_core.lab.sessions import session_manager

    monkeypatch.setenv(LAB_ENV, "1")
    auth._sessions.clear()
    store = user_store()
    store.add("vic", Role.VIEWER, "vic-password-123")
    token, _ = session_manager().issue(store.get("vic"))
    monkeypatch.setattr(auth, "_session_cookie", lambda: token)
    yield
    auth._sessions.clear()


def test_a_viewer_downloads_checked_exports_but_does_not_export(as_viewer, augmented_run: Path):
    run = runs_dir() / augmented_run.name
    shutil.copytree(augmented_run, run, ignore=shutil.ignore_patterns("tuner", "cache"))
    export_run(run, parse_targets(["litert"]))
    at = new_app().run()
    at.switch_page("pages/best.py").run()
    assert not problems(at)
    [export] = [b for b in at.button if b.label == "Export and check"]
    assert export.disabled and "member role" in export.help
    assert {"Download LiteRT (litert.zip)", "Download report (HTML)",
            "Download search script (.py)"} <= _downloads(at)
