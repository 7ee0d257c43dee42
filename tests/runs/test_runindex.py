"""The per-run index: a list of runs reads one small file a run, not every log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.workloads.labyear import Shape, make_workspace
from tuning_core.runs import catalogue
from tuning_core.runs.catalogue import RunIndexes, list_runs
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.runindex import INDEX_FILE, RunIndex, read_index


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
