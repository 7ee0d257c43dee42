"""The Runs page lists the runs once per page run (its filters and its live table share it),
without waiting for disk sizes."""

from __future__ import annotations

from pathlib import Path

from tests.pages.support import make_run, new_app, problems
from tuning_core.core.workspace import runs_dir
from tuning_core.runs import catalogue


def test_the_runs_page_lists_once_per_run(clean_caches, image_folder: Path, monkeypatch):
    make_run(runs_dir(), image_folder)
    make_run(runs_dir(), image_folder)
    real, calls = catalogue.list_runs, []

    def counted(folder, wait_for_size=True):
        calls.append(wait_for_size)
        return real(folder, wait_for_size)

    monkeypatch.setattr(catalogue, "list_runs", counted)
    at = new_app().run()
    calls.clear()
    at.switch_page("pages/runs.py").run()
    assert not problems(at)
    assert calls == [False]  # one listing, no disk walk waited for
    assert len(at.dataframe[0].value) == 2


def test_the_runs_table_shows_a_page_of_the_filtered_runs(clean_caches, image_folder: Path,
                                                           monkeypatch):
    made = [make_run(runs_dir(), image_folder) for _ in range(3)]
    monkeypatch.setattr(catalogue, "PAGE_RUNS", 2)
    at = new_app().run()
    at.switch_page("pages/runs.py").run()
    assert len(at.dataframe[0].value) == 2 and at.caption[0].value == "runs 1-2 of 3"
    followed = at.selectbox(key="runs_pick").value
    at.number_input(key="runs_page_number").set_value(2).run()
    assert not problems(at) and at.caption[0].value == "runs 3-3 of 3"
    assert len(at.dataframe[0].value) == 1
    assert at.selectbox(key="runs_pick").value == followed  # paging changes no followed run
    at.text_input(key="runs_filter_text").set_value(made[-1].name).run()  # back to page 1
    assert at.caption[0].value == "runs 1-1 of 1 (filtered from 3)"
