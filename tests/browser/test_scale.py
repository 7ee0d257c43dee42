"""Issue 29: a large run's Monitor in the browser: each chart drawn once, within its budgets.

The page script draws the charts; the live feed's first answer carries the same figures, and
used to draw all six again (the page had no way to tell they were the same): now each chart
carries the feed's hash of the figure it was drawn with, and the feed draws only what changed.
What the page holds is bounded by what a person can see (counts, not time: the timings are
bench figure 14's).
"""

from __future__ import annotations

import pytest

from bench.workloads.labyear import Shape, make_workspace
from tests.browser import ui

pytestmark = pytest.mark.browser

AT_ONCE = ("objective", "learning_curves", "parallel", "importance")
ON_REQUEST = ("pareto_latency", "pareto_params")  # past COST_CHARTS_AT_ONCE completed trials
FEED_APPLIED = """() => { const f = window.__liveFeed;
    return !!f && Object.values(f.payloads).some(p => p.figures) && !f.applying
        && f.pending.size === 0 && !f.timer; }"""
PAGE = """() => ({redrawn: Object.keys(window.__liveFeed.drawnAt),
                 nodes: document.getElementsByTagName('*').length,
                 markers: document.querySelectorAll('.js-plotly-plot .point').length})"""


def test_a_large_runs_monitor_draws_each_chart_once_within_its_budget(app_server, new_page):
    sweep = make_workspace(app_server.workspace,
                           Shape(runs=1, small_trials=3, sweeps=(2000,), epochs=3))["sweep-2000"]
    page = new_page()
    received: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived",
                                          lambda data: received.append(len(data))))
    ui.open_app(page, f"{app_server.url}/monitor?run={sweep.name}", title="Monitor")
    wait_drawn(page, AT_ONCE)
    assert page.locator(".st-key-monitor_pareto_latency").count() == 0, \
        "the cost charts of a large run wait until they are opened"
    page.wait_for_function(FEED_APPLIED, timeout=ui.UI_TIMEOUT)
    drawn = page.evaluate(PAGE)
    assert drawn["redrawn"] == [], "the feed's first answer drew charts the page had drawn"
    # 2,000 trials: the best 300 as points on the objective, the best trial's line on the
    # parallel coordinates (10,000 markers were drawn before)
    assert drawn["markers"] < 600, drawn
    assert drawn["nodes"] < 8_000, drawn
    assert sum(received) < 1_000_000, "the page's figures are sent within their budgets"
    # opened: the two cost charts drawn (the page reruns), 500 dominated trials each at most,
    # and still none drawn twice
    page.locator(f".st-key-monitor_cost_{sweep.name} summary").click()
    wait_drawn(page, ON_REQUEST)
    page.wait_for_function(FEED_APPLIED, timeout=ui.UI_TIMEOUT)
    drawn = page.evaluate(PAGE)
    assert drawn["redrawn"] == [], "opening the cost charts drew the others again"
    assert drawn["markers"] < 1_600, drawn
    # every trial a click away: the grid drawn when its expander is opened
    assert page.get_by_test_id("stDataFrame").count() == 0
    page.locator(f".st-key-trials_all_{sweep.name} summary").click()
    page.get_by_test_id("stDataFrame").wait_for(timeout=ui.UI_TIMEOUT)
    assert page.get_by_text("All 2,000 trials").is_visible()


def wait_drawn(page, names) -> None:
    for name in names:
        page.wait_for_function(
            f"() => !!document.querySelector('.st-key-monitor_{name} .js-plotly-plot')"
            "?._fullLayout", timeout=ui.UI_TIMEOUT)
