"""What the live pages show of a run (tuning_core/livefeed.py): built once per log position."""

from __future__ import annotations

from pathlib import Path

from tests.test_pages_support import make_run, write_trial

from tuning_core import livefeed
from tuning_core.jobs import run_progress
from tuning_core.ownership import OwnerInfo
from tuning_core.rundir import RunDir
from tuning_core.workspace import runs_dir


def test_content_is_built_once_per_log_position(workspace: Path, image_folder: Path) -> None:
    run = make_run(runs_dir(), image_folder, finished=False)
    first = livefeed.monitor_content(run)
    assert livefeed.monitor_content(run) is first  # every viewer gets the same objects
    assert first.counts == {"running": 0, "completed": 3, "stopped": 0, "failed": 0,
                            "interrupted": 0}
    assert first.best == 0.5 and first.objective == "val_loss"  # lower is better
    write_trial(RunDir(run).log_writer(), 3, score=0.1)
    later = livefeed.monitor_content(run)
    assert later is not first and later.best == 0.1 and later.counts["completed"] == 4
    assert list(later.table["number"]) == [1, 2, 3, 4]


def test_an_empty_run_has_empty_figures_and_no_counts_to_show(workspace: Path,
                                                              image_folder: Path) -> None:
    run = make_run(runs_dir(), image_folder, trials=0, finished=False)
    content = livefeed.monitor_content(run)
    assert content.empty and content.best is None and content.chance is None
    assert set(content.figures) == {"objective", "learning_curves", "parallel", "importance"}


def test_the_run_state_in_words(workspace: Path, image_folder: Path) -> None:
    run = RunDir(make_run(runs_dir(), image_folder, trials=2, finished=False))
    lock = run.lock()
    lock.acquire(OwnerInfo.mine("search", target=run.name))
    try:
        write_trial(run.log_writer(), 2, score=None)
        progress = run_progress(run)
        words = livefeed.describe(progress)
        assert words.startswith("running trial 3/3 · pid ") and words.endswith("(search)")
        assert livefeed.progress_text(progress).startswith("2 of 3 trials done · about ")
    finally:
        lock.release()
    assert livefeed.describe(run_progress(run)) == "interrupted"  # the owner went away
    assert [livefeed.duration(s) for s in (None, 12.4, 185, 3720)] == [
        "unknown", "12 s", "3 min 05 s", "1 h 02 min"]


def test_figure_json_leaves_the_theme_to_the_page() -> None:
    import json

    import plotly.graph_objects as go

    spec = json.loads(livefeed.figure_json(go.Figure(go.Scatter(x=[1, 2], y=[3, 4]),
                                                     layout={"template": "plotly_dark"})))
    assert spec["data"][0]["type"] == "scatter" and "template" not in spec["layout"]


def test_analysis_figures_follow_completed_trials_at_most_every_few_seconds(
        workspace: Path, image_folder: Path, monkeypatch) -> None:
    run = make_run(runs_dir(), image_folder, finished=False)
    first = livefeed.monitor_content(run)
    write_trial(RunDir(run).log_writer(), 3, score=0.1)
    soon = livefeed.monitor_content(run)  # a fast search: the forest is not refitted yet
    assert soon.figures["importance"] is first.figures["importance"]
    assert soon.figure_keys["parallel"] == first.figure_keys["parallel"] == 3
    assert soon.figures["objective"] is not first.figures["objective"]  # cheap: at once
    monkeypatch.setattr(livefeed._ANALYSIS, "every_s", 0.0)
    write_trial(RunDir(run).log_writer(), 4, score=0.2)
    later = livefeed.monitor_content(run)
    assert later.figure_keys["parallel"] == later.figure_keys["importance"] == 5
    assert later.figures["importance"] is not first.figures["importance"]
