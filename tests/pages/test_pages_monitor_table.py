"""The Monitor's trial table past LIVE_ROWS trials: the live part shows the best and the
newest, every trial is a click away (a page at a time, sorted and filtered on the server),
with a CSV of all."""

from __future__ import annotations

from pathlib import Path

from tests.pages.support import live_table, live_text, make_run, new_app, problems
from tuning_core.core.workspace import runs_dir
from tuning_core.live.content import LIVE_ROWS


def test_a_large_run_lists_every_trial_a_page_at_a_time(clean_caches, image_folder: Path):
    run = make_run(runs_dir(), image_folder, trials=LIVE_ROWS + 30)
    at = new_app().run()
    at.switch_page("pages/monitor.py").run()
    assert not problems(at)
    assert len(live_table(at)) == LIVE_ROWS
    assert "the newest 50 of 130 trials" in live_text(at, "table")
    assert not at.dataframe, "the pager waits until it is opened"
    assert [e for e in at.expander if e.label == "Every trial, a page at a time"]
    at.session_state[f"trials_all_{run.name}"] = True  # opened, as a click does
    at.run()
    assert len(at.dataframe[0].value) == LIVE_ROWS + 30
    assert "rows 1-130 of 130" in at.caption[-1].value
    assert "Download every trial (CSV)" in {b.label for b in at.get("download_button")}
    at.toggle(key=f"trials_desc_{run.name}").set_value(True).run()
    assert at.dataframe[0].value["number"].iloc[0] == LIVE_ROWS + 30


def test_a_small_run_has_no_pager(clean_caches, image_folder: Path):
    make_run(runs_dir(), image_folder)
    at = new_app().run()
    at.switch_page("pages/monitor.py").run()
    assert len(live_table(at)) == 3 and not at.dataframe and not at.expander
