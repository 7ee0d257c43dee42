"""AppTest of finding runs again: the Runs page's filters and notes editor, the Monitor's
notes, and the Compare page, over hand-made runs (no training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pages.common import auth
from tests.pages.support import (
    click,
    make_run,
    new_app,
    plotly_specs,
    problems,
)
from tuning_core.core.workspace import runs_dir
from tuning_core.lab.accounts import Role, user_store
from tuning_core.lab.config import LAB_ENV
from tuning_core.lab.sessions import session_manager
from tuning_core.runs.catalogue import edit_notes
from tuning_core.runs.rundir import RunDir


def runs_page(select: Path | None = None):
    at = new_app().run()
    at.switch_page("pages/runs.py").run()
    if select is not None:
        at.selectbox(key="runs_pick").set_value(select.name).run()
    return at


def table_names(at) -> list[str]:
    return list(at.dataframe[0].value["name"])


def test_runs_page_names_a_run_and_finds_it_by_filters(clean_caches, image_folder: Path):
    first = make_run(runs_dir(), image_folder)
    second = make_run(runs_dir(), image_folder, trials=2)
    edit_notes(second, "Other", "", ["big"])
    at = runs_page(select=first)
    at.text_input(key=f"runs_name:{first.name}").set_value("Flip baseline")
    at.text_area(key=f"runs_notes_text:{first.name}").set_value("Adam, lr 1e-3")
    at.text_input(key=f"runs_tags:{first.name}").set_value("CNN, baseline")
    click(at, "Save notes")
    assert not problems(at) and not at.error
    assert at.success[0].value == f"Saved the notes of {first.name}."
    notes = RunDir(first).notes()
    assert (notes.name, notes.notes, notes.tags) == ("Flip baseline", "Adam, lr 1e-3",
                                                     ("cnn", "baseline"))
    assert set(table_names(at)) == {"Flip baseline", "Other"}

    at.text_input(key="runs_filter_text").set_value("adam").run()
    assert table_names(at) == ["Flip baseline"]
    assert at.selectbox(key="runs_pick").value == first.name
    at.text_input(key="runs_filter_text").set_value("").run()
    at.selectbox(key="runs_filter_tag").set_value("big").run()
    assert table_names(at) == ["Other"]
    assert at.query_params["run"] == second.name  # the pages follow the run left in view
    at.selectbox(key="runs_filter_tag").set_value("any").run()
    at.selectbox(key="runs_filter_owner").set_value("(local mode)").run()
    at.selectbox(key="runs_filter_status").set_value("finished").run()
    at.selectbox(key="runs_filter_dataset").set_value(image_folder.name).run()
    assert set(table_names(at)) == {"Flip baseline", "Other"}
    at.text_input(key="runs_filter_text").set_value("no such run").run()
    assert not problems(at) and "No run matches" in at.info[0].value

    at.switch_page("pages/monitor.py").run()
    assert not problems(at)
    assert [s.value for s in at.subheader][:1] == ["Other"]
    assert "Tags: big" in [c.value for c in at.caption]


def test_a_bad_tag_shows_the_engine_message(clean_caches, image_folder: Path):
    run = make_run(runs_dir(), image_folder)
    at = runs_page()
    at.text_input(key=f"runs_tags:{run.name}").set_value("cnn, no-way!")
    click(at, "Save notes")
    assert not problems(at) and "got 'no-way!'" in at.error[0].value
    assert RunDir(run).notes().tags == ()


@pytest.fixture
def as_bob(clean_caches, monkeypatch: pytest.MonkeyPatch):
    """Lab mode, logged in as bob (member)."""
    monkeypatch.setenv(LAB_ENV, "1")
    auth._sessions.clear()
    store = user_store()
    store.add("bob", Role.MEMBER, "bob-password-123")
    token, _ = session_manager().issue(store.get("bob"))
    monkeypatch.setattr(auth, "_session_cookie", lambda: token)
    yield
    auth._sessions.clear()


def test_another_members_run_shows_its_notes_read_only(as_bob, image_folder: Path):
    run = make_run(runs_dir(), image_folder)  # launched in local mode: nobody's own
    edit_notes(run, "Alice's", "hands off", [])
    at = runs_page()
    assert not problems(at)
    assert at.text_input(key=f"runs_name:{run.name}").disabled
    save = next(b for b in at.button if b.label == "Save notes")
    assert save.disabled and "admin role" in save.help


def test_compare_page_shows_two_runs(clean_caches, image_folder: Path):
    older = make_run(runs_dir(), image_folder, trials=2)
    newer = make_run(runs_dir(), image_folder, trials=3)
    edit_notes(older, "Two trials", "", [])
    at = new_app()
    at.query_params["run"] = older.name
    at.run().switch_page("pages/compare.py").run()
    assert not problems(at) and not at.error
    assert at.multiselect(key="compare_pick").value == [older.name, newer.name]
    assert not at.dataframe  # two small static tables: no grid to load
    settings = at.table[1].value
    assert list(settings["setting"]) == ["tuner.max_trials"]
    assert list(settings.iloc[0, 1:]) == ["3", "4"]
    scores = at.table[0].value
    assert list(scores["run"]) == ["Two trials", newer.name]
    objective, curves, front = plotly_specs(at)
    assert front["layout"]["title"]["text"] == "val_loss against cpu latency"  # no costs yet
    assert [t["name"] for t in objective["data"]] == ["Two trials", newer.name]
    assert len(curves["data"]) == 2
    at.multiselect(key="compare_pick").set_value([older.name]).run()
    assert not problems(at) and "at least two" in at.info[0].value
