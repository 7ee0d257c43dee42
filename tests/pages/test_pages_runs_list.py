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
