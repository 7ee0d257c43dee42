"""Figure 9's pure parts: /proc stat parsing, process-tree CPU, latency matching, ratios.

No server, no browser, nothing trained.
"""

from __future__ import annotations

import json
import os

import pytest

from bench import fig9_viewers as fig9
from bench.fig9_viewers import Condition

TICKS = fig9.TICKS


def _stat(pid: int, ppid: int, utime: int, stime: int, cutime: int = 0, cstime: int = 0,
          name: str = "python") -> str:
    # fields 3.. of proc(5): state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime priority ...
    return (f"{pid} ({name}) S {ppid} {pid} {pid} 0 -1 4194304 10 0 0 0 {utime} {stime} "
            f"{cutime} {cstime} 20 0 1 0 100 1000 50\n")


def test_parse_stat_counts_fields_after_a_command_name_with_spaces_and_parens() -> None:
    text = _stat(42, 7, 3 * TICKS, TICKS, TICKS, 0, name="Web Content (x) y)")
    assert fig9.parse_stat(text) == (7, 5.0)


def test_tree_cpu_sums_descendants_and_skips_a_subtree() -> None:
    stats = {1: _stat(1, 0, TICKS, 0), 2: _stat(2, 1, 2 * TICKS, 0),
             3: _stat(3, 2, 0, 4 * TICKS), 4: _stat(4, 1, 8 * TICKS, 0),
             5: _stat(5, 4, 16 * TICKS, 0), 6: _stat(6, 99, 32 * TICKS, 0)}
    assert fig9.tree_cpu(2, stats) == 6.0
    assert fig9.tree_cpu(1, stats) == 31.0
    assert fig9.tree_cpu(1, stats, skip=[4]) == 7.0
    assert fig9.tree_cpu(77, stats) == 0.0


def test_read_stats_reads_this_process() -> None:
    stats = fig9.read_stats()
    assert fig9.parse_stat(stats[os.getpid()])[0] == os.getppid()


def _log() -> list[str]:
    lines = [{"event": "search_start", "time": 100.0},
             {"event": "trial_start", "time": 100.5, "trial_id": "0"},
             {"event": "epoch_end", "time": 101.0, "trial_id": "0", "epoch": 0},
             {"event": "epoch_end", "time": 102.0, "trial_id": "0", "epoch": 1},
             {"event": "trial_end", "time": 102.1, "trial_id": "0", "status": "completed"},
             {"event": "epoch_end", "time": 104.0, "trial_id": "1", "epoch": 0},
             {"event": "trial_end", "time": 104.2, "trial_id": "1", "status": "failed"},
             {"event": "epoch_end", "time": 106.0, "trial_id": "2", "epoch": 0},
             {"event": "trial_end", "time": 106.5, "trial_id": "2", "status": "completed"},
             {"event": "search_end", "time": 107.0}]
    return [json.dumps(x) for x in lines] + ['{"event": "epoch_e']  # a torn last line


def test_log_events_orders_epochs_and_completed_trials_only() -> None:
    events = fig9.log_events(_log())
    assert events == {"points": [101.0, 102.0, 104.0, 106.0], "completed": [102.1, 106.5]}


def test_latencies_match_the_first_page_state_that_shows_each_event() -> None:
    events = fig9.log_events(_log())
    seen = [(100_000, -1, -1),  # page loaded, no counts yet: not a state to match
            (101_500, 0, 1),    # first counts: epoch 1 (logged 101.0) came before, skipped
            (103_000, 1, 2),    # epoch 2 (102.0) after 1.0 s, trial 1 (102.1) after 0.9 s
            (105_000, 1, 3),    # epoch 3 (104.0) after 1.0 s; the failed trial is not counted
            (110_000, 1, 4)]    # epoch 4 (106.0) after 4.0 s; completed trial 2 never shown
    found, missed = fig9.latencies(events, seen)
    assert sorted(round(x, 3) for x in found) == [0.9, 1.0, 1.0, 4.0]
    assert missed == 1


def test_a_page_that_never_showed_counts_missed_everything() -> None:
    events = fig9.log_events(_log())
    assert fig9.latencies(events, [(100_000, -1, -1)]) == ([], 6)


def test_ratio_summary_median_and_spread() -> None:
    ratios, middle, low, high = fig9.ratio_summary([10.0, 20.0, 10.0], [11.0, 30.0, 12.0])
    assert ratios == pytest.approx([1.1, 1.5, 1.2])
    assert (middle, low, high) == pytest.approx((1.2, 1.1, 1.5))
    with pytest.raises(ValueError, match="as many watched"):
        fig9.ratio_summary([10.0], [])


def test_order_alternates_which_condition_runs_first() -> None:
    assert fig9.order(3) == [(0, False), (0, True), (1, True), (1, False), (2, False), (2, True)]


def test_server_cpu_per_viewer_minute_subtracts_the_idle_rate() -> None:
    alone = Condition(0, 0, server_cpu_s=1.0, window_s=50.0)  # 0.02 CPU s per s idle
    watched = Condition(0, 10, server_cpu_s=13.0, window_s=100.0, viewing_s=60.0)
    assert fig9.per_viewer_minute(watched, alone, "server") == pytest.approx(1.1)
