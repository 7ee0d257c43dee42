"""Figure 9's pure parts: /proc parsing, process trees, CPU pinning, latencies, ratios.

No server, no browser, nothing trained.
"""

from __future__ import annotations

import json
import os

import pytest

from bench.figures import fig09_viewers as fig9
from bench.figures.fig09_viewers import Condition
from bench.viewers import browser as viewers_browser
from bench.viewers import measure as viewers_measure
from bench.viewers.measure import parse_cpu_list
from tuning_core.runs.rundir import RunDir

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


def _log(run) -> list[dict]:
    """A run's events as the figure reads them (``RunDir.reader()``), from a hand-written log."""
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
    torn = '{"event": "epoch_e'  # a torn last line
    (run / "trials.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + torn)
    return RunDir(run).reader().events()


def test_log_events_orders_epochs_and_completed_trials_only(tmp_path) -> None:
    events = fig9.log_events(_log(tmp_path))
    assert events == {"points": [101.0, 102.0, 104.0, 106.0], "completed": [102.1, 106.5]}


def test_latencies_match_the_first_page_state_that_shows_each_event(tmp_path) -> None:
    events = fig9.log_events(_log(tmp_path))
    seen = [(100_000, -1, -1),  # page loaded, no counts yet: not a state to match
            (101_500, 0, 1),    # first counts: epoch 1 (logged 101.0) came before, skipped
            (103_000, 1, 2),    # epoch 2 (102.0) after 1.0 s, trial 1 (102.1) after 0.9 s
            (105_000, 1, 3),    # epoch 3 (104.0) after 1.0 s; the failed trial is not counted
            (110_000, 1, 4)]    # epoch 4 (106.0) after 4.0 s; completed trial 2 never shown
    found, missed = fig9.latencies(events, seen)
    assert sorted(round(x, 3) for x in found) == [0.9, 1.0, 1.0, 4.0]
    assert missed == 1


def test_a_page_that_never_showed_counts_missed_everything(tmp_path) -> None:
    events = fig9.log_events(_log(tmp_path))
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


def test_tree_lists_a_process_and_its_descendants_but_not_a_skipped_subtree() -> None:
    stats = {1: _stat(1, 0, 0, 0), 2: _stat(2, 1, 0, 0), 3: _stat(3, 2, 0, 0),
             4: _stat(4, 1, 0, 0), 5: _stat(5, 4, 0, 0), 6: _stat(6, 99, 0, 0)}
    assert sorted(fig9.tree(1, stats)) == [1, 2, 3, 4, 5]
    assert sorted(fig9.tree(1, stats, skip=[4])) == [1, 2, 3]
    assert fig9.tree(77, stats) == []


def test_split_cpus_gives_the_server_the_larger_lower_half_and_the_browsers_the_rest() -> None:
    two = fig9.split_cpus([1, 0])
    assert two is not None and (two.work, two.browsers) == ({0}, {1})
    odd = fig9.split_cpus({4, 5, 6, 7, 9})
    assert odd is not None and (odd.work, odd.browsers) == ({4, 5, 6}, {7, 9})
    assert odd.describe() == "server and searches on CPU 4-6, Chromium on CPU 7,9"


@pytest.mark.parametrize("cpus", [[], [3]])
def test_split_cpus_is_none_with_fewer_than_two(cpus: list[int]) -> None:
    assert fig9.split_cpus(cpus) is None


def test_cpu_lists_round_trip_in_the_kernels_form() -> None:
    assert fig9.cpu_list([3, 0, 1, 2, 6, 8, 9]) == "0-3,6,8-9"
    assert parse_cpu_list("0-3,6,8-9\n") == {0, 1, 2, 3, 6, 8, 9}
    assert parse_cpu_list("") == frozenset()


def test_allowed_cpus_reads_every_thread_of_a_process(tmp_path) -> None:
    for tid, cpus in ((10, "0"), (11, "1-3")):
        (tmp_path / "10" / "task" / str(tid)).mkdir(parents=True)
        (tmp_path / "10" / "task" / str(tid) / "status").write_text(
            f"Name:\tchromium\nCpus_allowed:\tf\nCpus_allowed_list:\t{cpus}\n")
    assert fig9.allowed_cpus(10, tmp_path) == {10: {0}, 11: {1, 2, 3}}
    assert fig9.allowed_cpus(12, tmp_path) == {}
    mine = fig9.allowed_cpus(os.getpid())
    assert mine[os.getpid()] == frozenset(os.sched_getaffinity(0))


def test_pinned_switches_this_thread_and_restores_it() -> None:
    before = os.sched_getaffinity(0)
    with fig9.pinned(frozenset([min(before)])):
        assert os.sched_getaffinity(0) == {min(before)}
    assert os.sched_getaffinity(0) == before
    with fig9.pinned(None):
        assert os.sched_getaffinity(0) == before


def test_the_notes_say_which_cpus_each_side_had_or_that_nothing_was_pinned() -> None:
    split = fig9.split_cpus([0, 1])
    checked = [Condition(0, 0, checked=5), Condition(0, 2, checked=9, renderers=2)]
    note = fig9.pinning_note(split, checked)
    assert note.startswith("pinned: server and searches on CPU 0, Chromium on CPU 1")
    assert "14 process readings" in note and "up to 2 Chromium renderers" in note
    assert "moved back: 0 after launch and in the warm-up, 0 later" in note
    assert fig9.pinning_note(None, checked).startswith("NOT pinned")


def _payload(completed: int | None, x: list | None) -> str:
    status = ("" if completed is None else
              f'<div class="live-metric" data-metric="Completed"><div class="live-label">'
              f'Completed</div><div class="live-value">{completed}</div></div>')
    figures = {} if x is None else {"monitor_learning_curves": ["h", {"data": [{"x": x}]}]}
    return json.dumps({"run": "r", "parts": {"status": ["h", status]}, "figures": figures})


def test_payload_counts_read_what_the_page_would_show() -> None:
    assert viewers_measure.payload_counts(_payload(3, [1.0, 2.0, None, 1.0])) == (3, 3)
    assert viewers_measure.payload_counts(_payload(None, None)) == (-1, -1)
    assert viewers_measure.payload_counts(_payload(0, [])) == (0, 0)


class _Reply:
    def __init__(self, status: int, etag: str, body: str) -> None:
        self.status, self.headers, self._body = status, {"etag": etag}, body
        self.reads = 0

    def body(self) -> bytes:
        self.reads += 1
        return self._body.encode()


class _Request:
    def __init__(self, start: float, end: float, reply: _Reply | None) -> None:
        self.timing = {"startTime": start, "responseEnd": end}
        self._reply = reply

    def response(self) -> _Reply | None:
        return self._reply


def test_arrivals_are_the_network_layers_times_of_answers_with_a_body() -> None:
    shared = _Reply(200, '"b"', _payload(1, [1.0, 2.0]))
    requests = [_Request(1_000.0, 20.0, _Reply(200, '"a"', _payload(0, [1.0]))),
                _Request(1_500.0, 5.0, _Reply(304, '"a"', "")),  # nothing new: not a row
                _Request(2_000.0, 30.0, shared), _Request(2_500.0, 10.0, shared),
                _Request(3_000.0, -1, shared),  # never finished: no time to count
                _Request(3_500.0, 0.0, None)]  # failed: no answer
    bodies: dict = {}
    rows = viewers_browser.arrived(requests, bodies)
    assert rows == [(1_020.0, 0, 1), (2_030.0, 1, 2), (2_510.0, 1, 2)]
    assert shared.reads == 1  # one body per ETag, however many pages got it
