"""Figure 10's arithmetic, from hand-written merged logs (no training, no processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.workers.events import (
    between_trials,
    chief_overhead,
    fault_outcome,
    read_events,
    spread,
    throughput,
    trial_seconds,
)


def _e(event: str, time: float, worker: str | None = None, **fields) -> dict:
    return {"event": event, "time": time, "worker": worker, **fields}


def _trial(tid: str, start: float, end: float, worker: str | None = None,
           status: str = "completed") -> list[dict]:
    return [_e("trial_start", start, worker, trial_id=tid),
            _e("trial_end", end, worker, trial_id=tid, status=status, seconds=end - start)]


PLAIN = [_e("search_start", 100.0), *_trial("0", 102, 106), *_trial("1", 107, 111),
         *_trial("2", 112, 116), _e("search_end", 117.0)]
# one worker: the chief starts at 100, the worker's first trial at 105; 2 s between trials
ONE = [_e("search_start", 100.0), *_trial("0", 105, 109, "t0"), *_trial("1", 111, 115, "t0"),
       *_trial("2", 117, 121, "t0")]
# two workers interleaved: each worker's own gaps, never across workers
TWO = sorted([_e("search_start", 100.0), *_trial("0", 105, 109, "t0"),
              *_trial("1", 105.5, 110, "t1"), *_trial("2", 110, 114, "t0"),
              *_trial("3", 111, 115, "t1")], key=lambda e: e["time"])


def test_throughput_counts_completed_trials_over_the_search_span() -> None:
    t = throughput(PLAIN)
    assert t["trials"] == 3 and t["span_s"] == 16 and t["startup_s"] == 2
    assert t["per_hour"] == pytest.approx(3 * 3600 / 16)
    assert t["steady_per_hour"] == pytest.approx(2 * 3600 / 10)
    two = throughput(TWO)
    assert two["trials"] == 4 and two["per_hour"] == pytest.approx(4 * 3600 / 15)
    assert throughput([_e("search_start", 1.0)])["per_hour"] == 0.0


def test_gaps_are_per_worker_and_failed_trials_do_not_count() -> None:
    assert between_trials(PLAIN) == [1, 1]
    assert between_trials(ONE) == [2, 2]
    assert sorted(between_trials(TWO)) == [1, 1]
    failed = [_e("search_start", 0.0), *_trial("0", 1, 2, "t0", status="failed"),
              *_trial("1", 3, 4, "t0")]
    assert between_trials(failed) == [] and throughput(failed)["trials"] == 1
    assert trial_seconds(PLAIN) == [4, 4, 4]


def test_chief_overhead_from_the_one_worker_search_against_the_plain_one() -> None:
    o = chief_overhead(ONE, PLAIN)
    assert o["gap_s"] == pytest.approx(1.0)  # 2 s between trials against 1 s
    assert o["span_per_trial_s"] == pytest.approx(21 / 3 - 16 / 3)
    assert o["startup_s"] == pytest.approx(5 - 2)  # 5 s to the first trial against 2 s
    assert o["per_trial_s"] == pytest.approx((21 - 5) / 3 - (16 - 2) / 3)


def test_a_killed_worker_noticed_its_trial_rerun_and_nothing_lost() -> None:
    events = [_e("search_start", 0.0), _e("trial_start", 1.0, "t0", trial_id="0"),
              _e("trial_start", 1.2, "t1", trial_id="1"),
              _e("trial_lost", 5.5, "t0", trial_id="0", requeued=True),
              *_trial("1", 1.2, 6.0, "t1")[1:], *_trial("0", 6.5, 9.0, "t1"),
              *_trial("2", 9.5, 12.0, "t1")]
    out = fault_outcome(events, ["0", "1", "2"], 3.0, "t0", "0")
    assert out["notice_s"] == pytest.approx(2.5) and out["noticed_worker"] == "t0"
    assert out["rerun_by"] == "t1"
    assert (out["trials_lost"], out["duplicates"], out["ended"]) == (0, 0, 3)
    doubled = events + _trial("2", 12, 13, "t1")[1:]
    missing = fault_outcome(doubled, ["0", "1", "2", "3"], 3.0, "t0", "0")
    assert (missing["trials_lost"], missing["duplicates"]) == (1, 1)
    assert fault_outcome(events, [], 6.0, "t0", "0")["notice_s"] is None  # lost before kill


def test_read_events_tags_each_line_with_its_workers_log(tmp_path: Path) -> None:
    (tmp_path / "trials.jsonl").write_text(json.dumps(_e("search_start", 1.0)) + "\n")
    lines = [{"event": "trial_start", "time": 2.0, "trial_id": "0"},
             {"event": "trial_end", "time": 3.0, "trial_id": "0", "status": "completed"}]
    (tmp_path / "trials-tuner1.jsonl").write_text(
        "\n".join(json.dumps(line) for line in lines) + '\n{"event": "tor')
    events = read_events(tmp_path)
    assert [(e["event"], e["worker"]) for e in events] == [
        ("search_start", None), ("trial_start", "tuner1"), ("trial_end", "tuner1")]
    assert spread([1.0, 3.0, 2.0]) == "2.0 (1.0-3.0)" and spread([]) == "-"
