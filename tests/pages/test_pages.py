"""AppTest tests of every page: no data, a scanned folder, a running search, a finished run.

No test here trains: runs are written by hand, and a running search is a stand-in thread
that writes a trial log the way the real one does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pages.support import (
    PAGES,
    FakeSearch,
    click,
    live_part,
    live_table,
    live_text,
    make_run,
    new_app,
    plotly_specs,
    problems,
    write_best,
)
from tuning_core.analysis import charts
from tuning_core.core.workspace import runs_dir
from tuning_core.jobs.registry import JobRegistry, install_registry
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.space.presets import get_preset


def render_all(at) -> dict[str, list[str]]:
    """Visit every page; the exceptions each one showed."""
    found = {}
    for page, title in PAGES.items():
        at.switch_page(page).run()
        found[page] = problems(at)
        assert [t.value for t in at.title] == [title], page
    return found


def test_every_page_renders_with_no_data(clean_caches):
    at = new_app().run()
    assert not problems(at)
    assert all(not errors for errors in render_all(at).values())


def test_pages_with_a_scanned_folder(clean_caches, image_folder: Path):
    (image_folder / "cats" / "notes.txt").write_text("not an image")
    at = new_app().run()
    at.text_input(key="w:data.folder").set_value(str(image_folder))
    click(at, "Scan folder")
    assert not problems(at) and not at.error
    assert {m.label: m.value for m in at.metric}["Images"] == "24"
    assert "not an image" in at.dataframe[1].value.to_string()  # the skipped-files table
    assert plotly_specs(at)[0]["data"][0]["type"] == "bar"
    assert all(not errors for errors in render_all(at).values())


def test_bad_folder_shows_the_engine_message(clean_caches, tmp_path: Path):
    at = new_app().run()
    at.text_input(key="w:data.folder").set_value(str(tmp_path / "missing"))
    click(at, "Scan folder")
    assert not problems(at)
    assert "not found" in at.error[0].value


def test_pages_with_a_finished_run(clean_caches, image_folder: Path):
    run_dir = make_run(runs_dir(), image_folder)
    write_best(run_dir, image_folder)
    at = new_app().run()
    assert at.query_params["run"] == run_dir.name
    assert all(not errors for errors in render_all(at).values())
    at.switch_page("pages/monitor.py").run()
    specs = plotly_specs(at)
    assert len(specs) == 6 and all(s["layout"]["uirevision"] == charts.UIREVISION for s in specs)
    assert len(live_table(at)) == 3
    assert live_part(at, "status").metrics["Completed"] == "3"
    at.switch_page("pages/best.py").run()
    assert {m.label: m.value for m in at.metric}["Test accuracy"] == "0.7500"
    labels = {b.label for b in at.get("download_button")}
    assert {"Download hyperparameters (JSON)", "Download trials (CSV)"} <= labels


def test_runs_page_deletes_with_confirmation(clean_caches, image_folder: Path):
    first = make_run(runs_dir(), image_folder)
    second = make_run(runs_dir(), image_folder)
    at = new_app().run()
    at.switch_page("pages/runs.py").run()
    at.selectbox(key="runs_pick").set_value(first.name).run()
    assert at.query_params["run"] == first.name
    click(at, "Delete run")
    assert first.is_dir()
    click(at, "Confirm delete")
    assert not problems(at) and not first.exists() and second.is_dir()
    click(at, "Prune checkpoints")
    assert "Removed 0 checkpoint" in at.success[0].value


def test_pages_with_a_running_search(clean_caches, image_folder: Path):
    fake = FakeSearch()
    registry = install_registry(JobRegistry(runs_dir(), search=fake))
    run_dir = make_run(runs_dir(), image_folder, trials=0, finished=False)
    (run_dir / "trials.jsonl").unlink()
    try:
        registry.resume(run_dir)
        assert fake.started.wait(10)
        at = new_app().run()
        assert "running trial 2/3" in live_text(at, "sidebar", sidebar=True)
        assert all(not errors for errors in render_all(at).values())
        at.switch_page("pages/monitor.py").run()
        curves = plotly_specs(at)[1]
        assert any(t["name"].startswith("running (trial 2)") for t in curves["data"])  # id 01
        at.switch_page("pages/search.py").run()
        click(at, "Stop")
        assert not problems(at)
    finally:
        fake.release.set()
        assert registry.wait(10)
    at.run()
    assert not problems(at)
    # AppTest drops the entrypoint's sidebar on a second run under st.navigation: use a new one
    assert "stopped" in live_text(new_app().run(), "sidebar", sidebar=True)


@pytest.mark.parametrize("page", list(PAGES))
def test_a_reload_keeps_the_selected_run(clean_caches, image_folder: Path, page: str):
    old = make_run(runs_dir(), image_folder)
    make_run(runs_dir(), image_folder)  # newer: the default without a URL
    at = new_app()
    at.query_params["run"] = old.name
    at.run().switch_page(page).run()
    assert not problems(at)
    assert at.session_state["run.current"] == old.name
    assert at.query_params["run"] == old.name


def test_space_page_edits_validates_and_shares(clean_caches):
    at = new_app().run()
    at.switch_page("pages/space.py").run()
    at.session_state["space_conv_table"] = {
        "edited_rows": {0: {"filters": "32, abc"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not problems(at)
    assert any("conv[0].filters" in e.value and "abc" in e.value for e in at.error)
    at.session_state["space_conv_table"] = {
        "edited_rows": {0: {"filters": "8, 8"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert any("duplicate" in e.value for e in at.error)  # the engine's own validation
    at.file_uploader(key="space_upload").set_value(
        ("space.json", b'{"schema_version": 99}', "application/json")).run()
    assert any("space.json" in e.value and "version" in e.value for e in at.error)
    text = get_preset("tutorial").to_json().encode()
    at.file_uploader(key="space_upload").set_value(("t.json", text, "application/json")).run()
    assert not problems(at)
    assert at.session_state["space.space"] == get_preset("tutorial")
    assert "Download space (JSON)" in {b.label for b in at.get("download_button")}


def test_search_page_sets_workers_distribution_and_mixed_precision(clean_caches):
    at = new_app().run()
    at.switch_page("pages/search.py").run()
    assert not problems(at)
    workers = at.number_input(key="w:search.workers")
    assert workers.label == "Workers" and workers.value == 0  # a plain search by default
    assert any("MirroredStrategy with one CPU device only" in c.value for c in at.caption)
    workers.set_value(2)
    at.selectbox(key="w:search.distribution").set_value("mirrored")
    at.checkbox(key="w:search.mixed_precision").check()
    at.run()
    assert not problems(at)
    settings = at.session_state["search.tuner"]
    assert (settings.workers, settings.distribution, settings.mixed_precision) == \
        (2, "mirrored", True)
    assert TunerSettings.from_dict(settings.to_dict()) == settings
    config = RunConfig(data_dir="x", space=get_preset("small"), tuner=settings)
    assert RunConfig.from_dict(config.to_dict()).tuner == settings
    assert any("2 local worker process" in m.value for m in at.markdown)


def test_search_page_fits_a_search_to_a_time_budget(clean_caches, image_folder: Path):
    """The plan is shown before launch and is what the launch would run."""
    at = new_app().run()
    at.text_input(key="w:data.folder").set_value(str(image_folder))
    click(at, "Scan folder")
    at.switch_page("pages/search.py").run()
    assert not problems(at)
    fit = at.number_input(key="w:search.fit_minutes")
    assert fit.disabled and not any("In about" in i.value for i in at.info)
    at.checkbox(key="w:search.fit").check()
    at.run()
    fit = at.number_input(key="w:search.fit_minutes")
    fit.set_value(3.0).run()
    assert not problems(at) and not at.error
    plans = [i.value for i in at.info if i.value.startswith("In about 3 min:")]
    assert plans and "px images" in plans[0]
    summary = "\n".join(m.value for m in at.markdown)
    trials = plans[0].split(" px images, ")[1].split(" trials")[0]
    assert f"{trials} trials max" in summary and "the search ends after" in summary


@pytest.mark.parametrize("page", ["pages/search.py", "pages/monitor.py"])
def test_a_fitted_runs_plan_and_pace_are_shown(clean_caches, image_folder: Path, page: str):
    from tuning_core.analysis.planner import plan_for

    config = RunConfig(data_dir=str(image_folder), space=get_preset("small"),
                       tuner=TunerSettings(tuner="random", epochs=2))
    plan = plan_for(config, 5)
    make_run(runs_dir(), image_folder, trials=2, finished=False, plan=plan.to_dict())
    at = new_app().run()
    at.switch_page(page).run()
    assert not problems(at)
    captions = [c.value for c in at.caption]
    if page == "pages/monitor.py":  # the Monitor's status is the live feed's HTML
        captions = live_part(at, "status").blocks
    assert any(c.startswith("Planned before launch: In about 5 min") for c in captions)
    assert any(c.startswith("Pace of this search: Epochs take") for c in captions)


def test_the_run_name_survives_leaving_the_search_page(clean_caches):
    """Streamlit forgets a widget's value when its page is left; the other launch settings
    came back, the run's name did not."""
    at = new_app().run()
    at.switch_page("pages/search.py").run()
    at.text_input(key="w:search.name").set_value("baseline-2").run()
    at.switch_page("pages/monitor.py").run()
    at.switch_page("pages/search.py").run()
    assert at.text_input(key="w:search.name").value == "baseline-2"


def test_the_best_page_gives_accuracies_their_margin(clean_caches, image_folder: Path):
    run_dir = make_run(runs_dir(), image_folder)
    write_best(run_dir, image_folder)
    at = new_app().run()
    at.switch_page("pages/best.py").run()
    captions = " ".join(c.value for c in at.caption)
    assert "Test accuracy 0.750, 95% interval 0.301–0.954 (4 test images)" in captions
    [table] = [d.value for d in at.dataframe if "recall 95% interval" in d.value]
    assert list(table["recall 95% interval"]) == ["0.09–0.91", "0.09–0.91"]  # 1 of 2 each
