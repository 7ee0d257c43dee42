"""What the live pages show of a run (tuning_core/live/content.py): built once per log position."""

from __future__ import annotations

from pathlib import Path

from tests.pages.support import make_run, write_trial
from tuning_core.core.workspace import runs_dir
from tuning_core.jobs.registry import run_progress
from tuning_core.live import content as run_content
from tuning_core.runs.locks import LockHolder
from tuning_core.runs.rundir import RunDir


def test_content_is_built_once_per_log_position(workspace: Path, image_folder: Path) -> None:
    run = make_run(runs_dir(), image_folder, finished=False)
    first = run_content.monitor_content(run)
    assert run_content.monitor_content(run) is first  # every viewer gets the same objects
    assert first.counts == {"running": 0, "completed": 3, "stopped": 0, "failed": 0,
                            "interrupted": 0}
    assert first.best == 0.5 and first.objective == "val_loss"  # lower is better
    write_trial(RunDir(run).log_writer(), 3, score=0.1)
    later = run_content.monitor_content(run)
    assert later is not first and later.best == 0.1 and later.counts["completed"] == 4
    assert list(later.table["number"]) == [1, 2, 3, 4]


def test_an_empty_run_has_empty_figures_and_no_counts_to_show(workspace: Path,
                                                              image_folder: Path) -> None:
    run = make_run(runs_dir(), image_folder, trials=0, finished=False)
    content = run_content.monitor_content(run)
    assert content.empty and content.best is None and content.chance is None
    assert set(content.figures) == {"objective", "learning_curves", "parallel", "importance",
                                    "pareto_latency", "pareto_params"}


def test_the_cost_charts_wait_to_be_opened_past_the_point_they_would_sample(
        workspace: Path, image_folder: Path) -> None:
    from dataclasses import replace

    from tuning_core.analysis.pareto_chart import DOMINATED_DRAWN

    content = run_content.monitor_content(make_run(runs_dir(), image_folder))
    assert run_content.COST_CHARTS_AT_ONCE == DOMINATED_DRAWN
    at_once = {**content.counts, "completed": DOMINATED_DRAWN, "failed": 40}
    assert not run_content.cost_charts_on_request(replace(content, counts=at_once))
    assert run_content.cost_charts_on_request(
        replace(content, counts={**at_once, "completed": DOMINATED_DRAWN + 1}))


def test_the_pareto_figures_and_the_table_follow_the_logged_costs(workspace: Path,
                                                                  image_folder: Path) -> None:
    run = make_run(runs_dir(), image_folder, trials=3, finished=False)  # val_loss .5, .6, .7
    before = run_content.monitor_content(run)
    assert "latency_ms" not in before.table  # no cost logged yet: no empty columns either
    log = RunDir(run).log_writer()
    for i, ms in enumerate([3.0, 1.0, 2.0]):
        log.write("trial_cost", trial_id=f"{i:02d}", params=100 * (i + 1), macs=1000,
                  model_bytes=5000, latency_ms=ms, threads=1)
    content = run_content.monitor_content(run)
    assert content.figure_keys["pareto_latency"] != before.figure_keys["pareto_latency"]
    front = {t.name: list(t.x) for t in content.figures["pareto_latency"].data}
    assert front == {"Pareto front": [1.0, 3.0], "dominated": [2.0]}  # 3 is worse and slower than 2
    assert list(content.table["latency_ms"]) == [3.0, 1.0, 2.0]


def test_the_run_state_in_words(workspace: Path, image_folder: Path) -> None:
    run = RunDir(make_run(runs_dir(), image_folder, trials=2, finished=False))
    lock = run.lock()
    lock.acquire(LockHolder.mine("search", target=run.name))
    try:
        write_trial(run.log_writer(), 2, score=None)
        progress = run_progress(run)
        words = run_content.describe(progress)
        assert words.startswith("running trial 3/3 · pid ") and words.endswith("(search)")
        assert run_content.progress_text(progress).startswith("2 of 3 trials done · about ")
    finally:
        lock.release()
    assert run_content.describe(run_progress(run)) == "interrupted"  # the owner went away
    assert [run_content.duration(s) for s in (None, 12.4, 185, 3720)] == [
        "unknown", "12 s", "3 min 05 s", "1 h 02 min"]


def test_figure_json_leaves_the_theme_to_the_page() -> None:
    import json

    import plotly.graph_objects as go

    spec = json.loads(run_content.figure_json(go.Figure(go.Scatter(x=[1, 2], y=[3, 4]),
                                                     layout={"template": "plotly_dark"})))
    assert spec["data"][0]["type"] == "scatter" and "template" not in spec["layout"]


def test_analysis_figures_follow_completed_trials_at_most_every_few_seconds(
        workspace: Path, image_folder: Path, monkeypatch) -> None:
    run = make_run(runs_dir(), image_folder, finished=False)
    first = run_content.monitor_content(run)
    dict(first.figures)  # a viewer drew them (each figure is built when first asked for)
    write_trial(RunDir(run).log_writer(), 3, score=0.1)
    soon = run_content.monitor_content(run)  # a fast search: the forest is not refitted yet
    assert soon.figures["importance"] is first.figures["importance"]
    assert soon.figure_keys["parallel"] == first.figure_keys["parallel"] == 3
    assert soon.figures["objective"] is not first.figures["objective"]  # cheap: at once
    monkeypatch.setattr(run_content._ANALYSIS, "every_s", 0.0)
    write_trial(RunDir(run).log_writer(), 4, score=0.2)
    later = run_content.monitor_content(run)
    assert later.figure_keys["parallel"] == later.figure_keys["importance"] == 5
    assert later.figures["importance"] is not first.figures["importance"]


def test_content_is_never_keyed_by_a_newer_log_position_than_it_shows(
        workspace: Path, image_folder: Path, monkeypatch) -> None:
    """The pages and the feed share one reader: a poll by another thread while the content is
    read must not pair the older tables with the newer position. It did: after the search's
    last line the Monitor's feed kept the stale content (no counts, "no trial has started
    yet") for as long as the log did not move again, which after a search ends is never."""
    import threading

    from tuning_core.runs.triallog import TrialLogReader

    run = RunDir(make_run(runs_dir(), image_folder, trials=0, finished=False))
    reader = run.reader()
    build_frames = TrialLogReader._build_frames

    def slow_frames(self):
        frames = build_frames(self)
        if self is reader and not done.is_set():  # another viewer's poll lands right now
            done.set()
            other = threading.Thread(target=lambda: (write_trial(run.log_writer(), 0, score=0.3),
                                                     run.reader()))
            other.start()
            other.join(0.5)  # it waits for the reader while the content is being read
            threads.append(other)
        return frames

    done, threads = threading.Event(), []
    monkeypatch.setattr(TrialLogReader, "_build_frames", slow_frames)
    run_content.monitor_content(run.path)
    threads[0].join(5)
    after = run_content.monitor_content(run.path)  # the log does not move again: a search's end
    assert after.counts["completed"] == 1 and not after.empty


def test_the_live_table_keeps_the_best_and_the_newest_past_its_rows() -> None:
    import pandas as pd

    n = run_content.LIVE_ROWS + 50
    table = pd.DataFrame({"number": range(1, n + 1), "trial_id": [f"{i:03d}" for i in range(n)],
                          "status": ["completed"] * (n - 1) + ["running"],
                          "score": [((i * 37) % n) / n for i in range(n - 1)] + [None]})
    shown, note = run_content.live_table(table, "val_accuracy")
    assert len(shown) == run_content.LIVE_ROWS and shown["number"].is_monotonic_increasing
    best = table.sort_values("score", ascending=False).head(run_content.LIVE_ROWS // 2)
    assert set(best["number"]) <= set(shown["number"]) and n in set(shown["number"])
    assert note == f"The best 50 and the newest 50 of {n} trials; every trial is listed " \
                   "below, page by page."
    small, none = run_content.live_table(table.head(10), "val_accuracy")
    assert len(small) == 10 and none is None


def test_the_trials_key_follows_states_and_scores_not_epochs() -> None:
    """What the parallel coordinates and importance are rebuilt on: a trial started, ended or
    scored, never an epoch (its digest replaced tuples of 150,000 strings at 50,000 trials)."""
    import numpy as np
    import pandas as pd

    from tuning_core.live.content import trials_key

    trials = pd.DataFrame({"trial_id": ["00", "01"], "status": ["completed", "running"],
                           "score": [0.5, np.nan], "epochs": [3, 1]})
    key = trials_key(trials)
    assert trials_key(trials.assign(epochs=[3, 2])) == key
    assert trials_key(trials.assign(status=["completed", "failed"])) != key
    assert trials_key(trials.assign(score=[0.5, 0.7])) != key
    assert trials_key(trials.assign(score=[0.6, np.nan])) != key
    grown = pd.concat([trials, trials.iloc[:1].assign(trial_id="02")], ignore_index=True)
    assert trials_key(grown) != key and trials_key(trials.iloc[:0]) == ()
