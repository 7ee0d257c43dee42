"""The fault soak: its log audit on hand-written logs, and a short soak of a real search."""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path

import pytest

from bench.soak.audit import survived_fault
from bench.soak.driver import KINDS, audit_log, schedule, soak
from bench.soak.procs import FaultRecord


def _log(*events: tuple) -> list[str]:
    """Log lines from (event, trial id or status) pairs, one second apart."""
    lines = []
    for t, (event, value) in enumerate(events):
        record = {"event": event, "time": float(t)}
        if event in ("trial_start", "epoch_end", "trial_end"):
            record["trial_id"] = value
        if event == "trial_end":
            record["status"] = "completed"
        if event == "search_end":
            record["status"] = value
        lines.append(json.dumps(record))
    return lines


CLEAN = [("search_start", None), ("trial_start", "0"), ("epoch_end", "0"), ("trial_end", "0"),
         ("trial_start", "1"), ("epoch_end", "1"),  # killed here: trial 1 is retried
         ("search_start", None), ("trial_start", "1"), ("epoch_end", "1"), ("trial_end", "1"),
         ("search_end", "finished")]


def test_a_clean_log_with_a_retried_trial_passes() -> None:
    audit = audit_log(_log(*CLEAN))
    assert not audit.duplicates and not audit.writer_signs and not audit.bad_lines
    assert audit.ended_ids() == {"0", "1"}
    assert [s.end for s in audit.segments] == [None, "finished"]
    assert [s.trials for s in audit.segments] == [2, 1]


def test_a_duplicate_trial_end_is_flagged() -> None:
    events = [*CLEAN[:-1], ("trial_end", "1"), ("search_end", "finished")]
    audit = audit_log(_log(*events))
    assert audit.duplicates == ["line 11: trial 1 ended again"]


def test_a_completed_trial_run_again_is_flagged() -> None:
    events = [*CLEAN[:-1], ("trial_start", "0"), ("trial_end", "0"), ("search_end", "finished")]
    assert any("ran again" in d for d in audit_log(_log(*events)).duplicates)


def test_two_writers_interleaving_are_flagged() -> None:
    events = [("search_start", None), ("trial_start", "0"), ("search_start", None),
              ("trial_start", "1"), ("epoch_end", "0"), ("epoch_end", "1"), ("trial_end", "0")]
    signs = [s for found in audit_log(_log(*events)).writer_signs.values() for s in found]
    assert any("epoch of trial 0 while trial 1 ran" in s for s in signs)
    assert any("trial 0 ended while trial 1 ran" in s for s in signs)


def test_a_trial_started_twice_in_one_search_is_flagged() -> None:
    events = [("search_start", None), ("trial_start", "0"), ("trial_start", "0")]
    signs = audit_log(_log(*events)).writer_signs
    assert signs and "started twice in one search" in next(iter(signs.values()))[0]


def test_damaged_lines_are_reported_and_the_rest_read() -> None:
    lines = _log(*CLEAN)
    lines.insert(3, '{"event": "epoch_en')
    audit = audit_log(lines)
    assert len(audit.bad_lines) == 1 and audit.ended_ids() == {"0", "1"}


def test_recovered_trial_end_between_searches_is_allowed() -> None:
    lines = _log(("search_start", None), ("trial_start", "0"), ("epoch_end", "0"))
    lines.append(json.dumps({"event": "trial_end", "time": 9.0, "trial_id": "0",
                             "status": "completed", "recovered": True}))
    lines += _log(("search_start", None), ("search_end", "finished"))
    audit = audit_log(lines)
    assert not audit.writer_signs and audit.ended_ids() == {"0"}


def test_a_fault_that_lands_as_the_search_finishes_counts_as_survived() -> None:
    """Nothing is left to resume after a finished search; a stopped one must go on."""
    finished = audit_log(_log(("search_start", None), ("trial_start", "0"),
                              ("trial_end", "0"), ("search_end", "finished")))
    stopped = audit_log(_log(("search_start", None), ("trial_start", "0"),
                             ("trial_end", "0"), ("search_end", "stopped")))
    fault = FaultRecord("sigint", injected=True, starts_after=1)
    assert survived_fault(fault, finished)
    assert not survived_fault(fault, stopped)
    resumed = audit_log(_log(("search_start", None), ("trial_start", "0"),
                             ("search_end", "stopped"),
                             ("search_start", None), ("trial_start", "0"), ("trial_end", "0"),
                             ("search_end", "finished")))
    assert survived_fault(fault, resumed)


def test_schedule_draws_every_kind_and_never_starts_with_a_second_writer() -> None:
    plan = schedule(KINDS, 3 * len(KINDS), random.Random(3))
    assert sorted(plan) == sorted(3 * list(KINDS)) and plan[0] != "second_writer"
    after_writer = [b for a, b in itertools.pairwise(plan) if a == "second_writer"]
    assert not {"second_writer", "kill9_startup"} & set(after_writer)


def test_every_file_is_read_through_the_products_readers(tmp_path: Path) -> None:
    """A torn notes.json, a damaged accounts file and a queue that is not a database are
    each named; whole ones are not."""
    from bench.soak.files import unreadable_files
    from tuning_core.jobs.queue import JobQueue

    run = tmp_path / "runs" / "run1"
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")  # a JSON object, but no run's settings
    (run / "notes.json").write_text('{"name": "a", "no')
    (run / "trials.jsonl").write_text('{"event": "search_start"}\n')
    JobQueue(tmp_path / "queue.sqlite3").jobs()
    assert [line.split(":")[0] for line in unreadable_files(tmp_path, [run])] == [
        str(run / "run.json"), str(run / "notes.json")]
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "users.json").write_text('{"version": 1, "users": [{"na')
    (tmp_path / "queue.sqlite3").write_bytes(b"not a database" * 100)
    bad = "\n".join(unreadable_files(tmp_path, [run]))
    assert "users.json" in bad and "queue.sqlite3" in bad


def test_a_fault_that_left_a_search_running_is_survived_when_that_search_went_on() -> None:
    """A folder edit the resume went on from, a queued job, a power cut beside the search:
    their own search is the proof; an unreadable file is never survived."""
    log = audit_log(_log(("search_start", None), ("trial_start", "0"), ("epoch_end", "0"),
                         ("trial_end", "0"), ("search_end", "stopped")))
    went_on = FaultRecord("folder_edit", injected=True, starts_after=1, at=1.5, goes_on=True)
    assert survived_fault(went_on, log)
    assert not survived_fault(FaultRecord("folder_edit", injected=True, starts_after=1,
                                          at=1.5), log)  # a refusal needs a later resume
    cut = FaultRecord("power_cut", injected=True, starts_after=1, goes_on=True, unreadable=1)
    assert not survived_fault(cut, log)


@pytest.mark.training
def test_a_search_survives_seven_faults_of_seven_kinds(tmp_path: Path) -> None:
    """kill -9, SIGTERM, a refused second resume, a full disk, images deleted, added, renamed
    or corrupted under the run, two servers with a queued job, a power cut of a writer (and
    one of a retrain writing best/): nothing lost, nothing unreadable, every fault as
    promised."""
    from tuning_core.data.sample import write_digits

    data = write_digits(tmp_path / "digits")
    kinds = ("kill9_training", "sigterm", "second_writer", "disk_full", "folder_edit",
             "second_server", "power_cut")
    # trials enough that the search is still going at the last fault: with 6, a clean-clone
    # CI run on a loaded machine saw it finish after the sixth of seven
    trials = 9
    if os.geteuid() != 0:  # the full disk is a tmpfs, and mounting one needs root (CI is)
        kinds = tuple(kind for kind in kinds if kind != "disk_full")
    result = soak(data, tmp_path / "soak", faults=len(kinds), seed=1, max_trials=trials, epochs=3,
                  time_limit_s=420, kinds=kinds)
    assert result.problems == []
    assert {k: n for k, n in result.faults_injected.items() if k != "power_cut"} == \
        {kind: 1 for kind in kinds if kind != "power_cut"}
    assert result.faults_injected["power_cut"] >= 1
    assert result.faults_survived == result.faults_injected
    assert all(f["expected"] for f in result.faults if f["injected"])
    assert result.trials_lost == 0 and result.duplicates == 0
    assert result.double_writers_let_in == 0 and result.refused_second_writers == 1
    assert result.unreadable_files == 0 and result.split_changed_silently == 0
    assert result.completed == result.max_trials == trials and result.retrained
