"""The Monitor follows a search through the live feed (tuning_core/live/answers.py), not session
reruns: its counts, table and charts move while Streamlit sends nothing over the websocket, the
charts are the same elements throughout (zoom kept), the table keeps the user's sort, and
the end of the search shows on the page and in the sidebar."""

from __future__ import annotations

import re
import signal
import subprocess

import pytest
from playwright.sync_api import expect

from tests.browser import ui
from tests.browser.test_ownership import cli_search
from tests.browser.ui import TRAIN_TIMEOUT

pytestmark = [pytest.mark.browser, pytest.mark.training]

SOME_DONE = re.compile(r"^[1-9]\d*$")
CURVES = ".st-key-monitor_learning_curves .js-plotly-plot"
ZOOM = f"""async () => {{
    const g = document.querySelector("{CURVES}");
    g.__mark = true;  // gone if the chart were mounted afresh
    await Plotly.relayout(g, {{"xaxis.range": [1, 1.5]}});
}}"""
STATE = f"""() => {{
    const g = document.querySelector("{CURVES}");
    const numbers = [...document.querySelectorAll(".live-table tbody tr")]
        .map(r => Number(r.cells[0].dataset.v));
    return {{mark: !!g.__mark, range: g.layout.xaxis.range, numbers}};
}}"""


def test_the_monitor_follows_a_search_without_rerunning_its_session(app_server, new_page):
    search, run = cli_search(app_server, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        page = new_page()
        frames: list[int] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda _: frames.append(1)))
        ui.open_app(page, f"{app_server.url}/monitor?run={run}", title="Monitor")
        done = ui.metric(page, "Completed")
        expect(done).to_have_text(SOME_DONE, timeout=TRAIN_TIMEOUT)
        page.wait_for_function(f"() => !!document.querySelector('{CURVES}')?._fullLayout")
        page.evaluate(ZOOM)
        number = page.locator(".live-table th", has_text=re.compile("^number$"))
        number.click()
        number.click()  # descending: the newest trial on top
        seen, quiet_from = int(done.inner_text()), len(frames)

        expect(done).not_to_have_text(str(seen), timeout=TRAIN_TIMEOUT)
        expect(done).not_to_have_text(str(seen + 1), timeout=TRAIN_TIMEOUT)
        assert len(frames) - quiet_from <= 2, "the session reran while the feed updated"
        assert page.evaluate("() => window.__liveFeed.worker"), "polling ran on the page thread"
        state = page.evaluate(STATE)
        assert state["mark"] and state["range"] == [1, 1.5]
        assert state["numbers"] == sorted(state["numbers"], reverse=True)
        assert len(state["numbers"]) >= seen + 2
        expect(ui.main(page).get_by_text(re.compile(r"pid \d+ on"))).not_to_have_count(0)
    finally:
        search.send_signal(signal.SIGINT)
        assert search.wait(120) == 0, search.stderr.read()[-2000:]
    expect(ui.main(page)).to_contain_text(f"{run}: stopped", timeout=TRAIN_TIMEOUT)
    expect(page.locator("[data-live-part='sidebar']")).to_contain_text("stopped")
    expect(ui.tracebacks(page)).to_have_count(0)
