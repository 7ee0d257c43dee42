"""The per-run index: a list of runs reads one small file a run, not every log; the log's
writer keeps it current; the list is paged and filtered on the server."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from bench.workloads.labyear import Shape, make_workspace, write_run, write_trial
from tuning_core.core import diskspace
from tuning_core.core.states import RunStatus
from tuning_core.runs import catalogue
from tuning_core.runs.catalogue import RunIndexes, list_runs
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.runindex import INDEX_FILE, RunIndex, read_index, refresh


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    make_workspace(tmp_path, Shape(runs=6, small_trials=4, sweeps=(), epochs=2))
    return tmp_path / "runs"


def test_a_fresh_process_lists_from_the_indexes_without_replaying_a_log(runs: Path,
                                                                         monkeypatch) -> None:
    first = {i.run.name: (i.trials_done, i.best_score, i.status) for i in list_runs(runs)}
    assert all(read_index(p) is not None for p in runs.iterdir())
    monkeypatch.setattr(catalogue, "INDEXES", RunIndexes())  # a new server
    monkeypatch.setattr(RunDir, "reader", lambda self: pytest.fail("replayed a log"))
    assert {i.run.name: (i.trials_done, i.best_score, i.status)
            for i in list_runs(runs)} == first


def test_a_new_log_line_makes_the_index_stale_and_it_is_read_again(runs: Path) -> None:
    run = RunDir(next(runs.iterdir()))
    before = catalogue.summarize(run).trials_done
    log = run.log_writer()
    log.write("trial_start", trial_id="new", number=99, hyperparameters={})
    best = 1e-9 if run.direction.ascending else 1e9  # the best score of any direction
    log.write("trial_end", trial_id="new", status="completed", score=best, seconds=1)
    after = catalogue.summarize(run)
    assert after.trials_done == before + 1 and after.best_score == best
    assert read_index(run.path).trials_done == before + 1  # saved for the next server


def test_an_index_of_another_version_or_broken_is_not_trusted(runs: Path) -> None:
    path = next(runs.iterdir())
    (path / INDEX_FILE).write_text("{broken")
    assert read_index(path) is None
    (path / INDEX_FILE).write_text('{"version": 99}')
    assert read_index(path) is None
    assert catalogue.summarize(path).trials_done >= 1  # read from the log, saved again
    assert isinstance(read_index(path), RunIndex)


def test_sizes_are_walked_in_the_background_when_the_list_must_not_wait(runs: Path,
                                                                        monkeypatch) -> None:
    monkeypatch.setattr(catalogue, "DISK_SIZES", catalogue.DiskSizes())
    for path in runs.iterdir():
        (path / INDEX_FILE).unlink(missing_ok=True)
    monkeypatch.setattr(catalogue, "INDEXES", RunIndexes())
    assert {i.bytes for i in list_runs(runs, wait_for_size=False)} == {None}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sizes = [i.bytes for i in list_runs(runs, wait_for_size=False)]
        if None not in sizes:
            break
        time.sleep(0.05)
    assert all(size and size > 0 for size in sizes)
    assert sizes == [i.bytes for i in list_runs(runs)]  # what a walk now would say


def _headline(run: RunDir) -> tuple:
    """What a replay of the whole log says (the reader's rules)."""
    from tuning_core.runs import trialtable
    from tuning_core.runs.ranking import best_score

    reader = run.reader()
    trials = reader.trials()
    return reader.search_status, trialtable.ended_count(trials), best_score(trials, run.direction)


def _saved(run: RunDir, current: bool = True) -> tuple:
    """What the saved index says; ``current``: the last line was one the writer indexes
    (nothing left to catch up), else the lines since change nothing it says."""
    index = read_index(run.path)
    assert index is not None
    caught, changed = refresh(run.path, index)
    assert changed is not current
    headline = index.search_status, index.trials_done, index.best_score
    assert headline == (caught.search_status, caught.trials_done, caught.best_score)
    return headline


def test_the_writer_keeps_the_index_through_a_kill_a_resume_and_a_stop(tmp_path: Path,
                                                                        monkeypatch) -> None:
    monkeypatch.setattr(RunIndex, "replayed", lambda *a: pytest.fail("replayed a log"))
    rng = np.random.default_rng(1)
    run = write_run(tmp_path, "r", 0.0, 3, 2, rng, ended=False)  # killed: no search_end
    log = run.log_writer()
    log.write("trial_start", trial_id="k", number=4, hyperparameters={})  # killed mid-trial
    assert _saved(run, current=False)[:2] == ("running", 3)
    log.write("search_start", tuner="random", max_trials=9, resumed=True)  # the resume
    assert _saved(run) == _headline(run)
    write_trial(log, "k", 4, 2, rng)  # the killed trial again, to its end
    log.write("trial_start", trial_id="s", number=5, hyperparameters={})
    log.write("search_end", status="stopped", message=None)  # a stop ends the running one
    assert _saved(run) == _headline(run) == ("stopped", 5, _headline(run)[2])
    assert catalogue.summarize(run).state == "stopped"


def test_a_search_stopped_by_a_full_disk_says_so_in_the_list_and_the_cli(
        tmp_path: Path, capsys) -> None:
    from tuning_core.cli.main import main

    run = write_run(tmp_path, "full", 0.0, 2, 2, np.random.default_rng(2), ended=False)
    run.log_writer().write("search_end", status="stopped", reason=diskspace.REASON,
                           message="disk full: 0.7 MB free on /data; free space there and "
                                   "resume the run")
    summary = catalogue.summarize(run)
    assert summary.status is RunStatus.STOPPED
    assert summary.state == "disk full: 0.7 MB free on /data"
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    assert "\tdisk full: 0.7 MB free on /data\t" in capsys.readouterr().out
    run.log_writer().write("search_start", tuner="random", max_trials=2, resumed=True)
    assert catalogue.summarize(run).end_reason is None  # resumed: the reason is the past


def test_renamed_and_tagged_runs_are_listed_without_reading_their_logs_again(
        runs: Path, monkeypatch) -> None:
    list_runs(runs)
    path = next(runs.iterdir())
    catalogue.edit_notes(path, "Flip baseline", "words", "cnn, big")
    monkeypatch.setattr(RunIndex, "caught_up", lambda *a: pytest.fail("read the log"))
    monkeypatch.setattr(RunIndex, "replayed", lambda *a: pytest.fail("read the log"))
    found = next(i for i in list_runs(runs) if i.run.path == path)
    assert (found.name, found.tags, found.notes) == ("Flip baseline", ("cnn", "big"), "words")
    assert read_index(path).label == "Flip baseline"


def test_a_replaced_log_is_replayed_and_a_damaged_line_hides_nothing(runs: Path) -> None:
    run = RunDir(next(runs.iterdir()))
    lines = run.log_path.read_bytes().splitlines(keepends=True)
    run.log_path.write_bytes(b"".join(lines[:-3]) + b'{"event": "trial_e\n' + lines[-3])
    summary = catalogue.summarize(run)  # shorter than the index had read: read again whole
    assert (read_index(run.path).search_status, summary.trials_done, summary.best_score) == \
        _headline(run)


def test_the_runs_list_is_paged_and_filtered_on_the_server(runs: Path) -> None:
    listed = list_runs(runs)
    page = catalogue.runs_page(listed, 1, size=4)
    assert [i.run.name for i in page.runs] == [i.run.name for i in listed[4:]]
    assert (page.page, page.pages, page.describe()) == (1, 2, "runs 5-6 of 6")
    assert catalogue.runs_page(listed, 9, size=4).page == 1  # clamped to the last
    tagged = catalogue.runs_page(listed, 0, size=4, text="flowers")
    assert [i.name for i in tagged.runs] == ["flowers try 3"]
    assert tagged.describe() == "runs 1-1 of 1 (filtered from 6)"
    assert catalogue.runs_page(listed, text="nothing").describe() == "no run of 6 matches"
