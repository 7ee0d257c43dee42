"""Figure 11's pure parts: epochs in a window, the server's extra CPU, the per-page summary
and its verdict. No server, no browser, nothing trained."""

from __future__ import annotations

import json

import pytest

from bench.figures import fig11_pages as fig11
from bench.figures.fig11_pages import NONE, Window
from bench.harness.report import figure_tables
from bench.viewers.measure import CpuSplit
from tuning_core.runs.rundir import RunDir


def _window(page: str, server: float, search: float, arm: str = "shipped", viewers: int = 10,
            seconds: float = 30.0, epochs: int = 60) -> Window:
    return Window(arm, page, 0 if page == NONE else viewers, seconds, server, search, epochs,
                  250.0)


def test_epochs_between_counts_epoch_ends_in_the_window_only(tmp_path) -> None:
    lines = [json.dumps({"event": "epoch_end", "time": t}) for t in (9.9, 10.0, 12.5, 20.0)]
    lines += [json.dumps({"event": "trial_end", "time": 11.0}), '{"event": "epoch_end", "ti']
    (tmp_path / "trials.jsonl").write_text("\n".join(lines))  # the last line still being written
    assert fig11.epochs_between(RunDir(tmp_path).reader().events(), 10.0, 20.0) == 2


def test_per_viewer_minute_takes_the_idle_rate_off() -> None:
    window = _window("search", server=6.0, search=25.0)  # 0.2 CPU s/s over 30 s
    assert fig11.extra_rate(window, idle_rate=0.05) == pytest.approx(0.15)
    assert fig11.per_viewer_minute(window, idle_rate=0.05) == pytest.approx(0.9)  # 0.15*60/10


def test_summary_compares_each_page_with_its_arms_idle_windows() -> None:
    windows = [_window(NONE, 0.3, 27.0), _window("search", 3.3, 24.3),
               _window(NONE, 0.3, 27.0), _window("search", 6.3, 21.6, epochs=45),
               _window(NONE, 0.0, 24.0, arm="gc"), _window("search", 12.0, 18.0, arm="gc")]
    shipped, gc = fig11.summarize(windows, cores=1)
    assert (shipped.arm, shipped.page) == ("shipped", "search")
    # extra server rate per round: 0.1 and 0.2 CPU s/s -> 0.6 and 1.2 per viewer-minute
    assert shipped.server_per_viewer_min == pytest.approx(0.9)
    assert shipped.server_share == pytest.approx(0.15)
    assert shipped.slowdown == pytest.approx(0.15) and shipped.slowdown_high == pytest.approx(0.2)
    assert shipped.epoch_ratio == pytest.approx(52.5 / 60)
    assert gc.server_share == pytest.approx(0.4) and gc.slowdown == pytest.approx(0.25)
    assert fig11.summarize(windows, cores=2)[0].server_share == pytest.approx(0.075)


def test_an_arm_without_an_idle_window_cannot_be_summed_up() -> None:
    with pytest.raises(ValueError, match="no window without viewers"):
        fig11.summarize([_window("runs", 1.0, 20.0)])


def test_the_verdict_follows_the_servers_share_of_the_searchs_cpu() -> None:
    split = CpuSplit(frozenset({0}), frozenset({1}))
    calm = [_window(NONE, 0.3, 27.0)] + [_window(p, 1.5, 26.0) for p in fig11.PAGES]
    calm += [_window(NONE, 0.3, 27.0, arm="postScriptGC on"),
             _window("search", 9.0, 20.0, arm="postScriptGC on")]
    result = fig11._result(fig11.QUICK, calm, split)
    assert result.met is True
    assert "server's share of the search's CPU at most 4.0%" in result.value
    # the GC arm beside the shipped one: (0.30 - 0.01) CPU s/s x 60 / 10 viewers, 7.2x 0.24
    assert "post-run GC: Search 1.74 (7.2x)" in result.value
    busy = [*calm, _window("runs", 9.3, 20.0)]  # a second round of Runs: median 0.17 CPU s/s
    assert fig11._result(fig11.QUICK, busy, split).met is False
    tables = figure_tables(result.rows)
    assert "### Per page (medians of rounds)" in tables
    assert "### Every window, in run order" in tables
