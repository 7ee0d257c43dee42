"""The fault soak: its log audit on hand-written logs, and a short soak of a real search."""

from __future__ import annotations

import itertools
import json
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


@pytest.mark.training
def test_a_search_survives_five_faults(tmp_path: Path) -> None:
    """kill -9, Ctrl-C, SIGTERM, a refused second resume and a stop file: nothing lost."""
    from tuning_core.data.sample import write_digits

    data = write_digits(tmp_path / "digits")
    kinds = ("kill9_training", "sigint", "sigterm", "second_writer", "stop_file")
    result = soak(data, tmp_path / "soak", faults=5, seed=1, max_trials=6, epochs=3,
                  time_limit_s=300, kinds=kinds)
    assert result.problems == []
    assert result.faults_injected == {kind: 1 for kind in kinds}
    assert result.faults_survived == result.faults_injected
    assert result.trials_lost == 0 and result.duplicates == 0
    assert result.double_writers_let_in == 0 and result.refused_second_writers == 1
    assert result.completed == result.max_trials == 6 and result.retrained
