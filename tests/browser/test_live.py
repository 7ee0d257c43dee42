"""A running search is live and shared: a second browser sees it, a reload keeps it running."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import ui
from tests.browser.test_journey import launch, pick_sample_data, the_run
from tests.browser.ui import TRAIN_TIMEOUT

pytestmark = [pytest.mark.browser, pytest.mark.training]

TRIALS = 50  # far more than the test waits for: it stops the search itself
EPOCHS = 1  # short trials: the completed count moves often
SOME_DONE = re.compile(r"^[1-9]\d*$")


def test_search_is_shared_between_browsers_and_survives_a_reload(app_server, new_page):
    page = new_page()
    ui.open_app(page, app_server.url)
    pick_sample_data(page)
    ui.go_to(page, "Search")
    launch(page, TRIALS, EPOCHS)
    run = the_run(app_server.workspace)
    ui.go_to(page, "Monitor")
    expect(ui.running(page)).to_be_visible(timeout=TRAIN_TIMEOUT)

    # Someone else opens the app on Monitor: same run, and it moves without a reload.
    other = new_page()
    ui.open_app(other, f"{app_server.url}/monitor", title="Monitor")
    expect(ui.main(other)).to_contain_text(run)
    expect(ui.running(other)).to_be_visible()
    done = ui.metric(other, "Completed")
    expect(done).to_have_text(SOME_DONE, timeout=TRAIN_TIMEOUT)
    seen = done.inner_text()

    # A reload of the first tab: still the same run, still running, still moving.
    page.reload()
    expect(ui.heading(page, "Monitor")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"[?&]run={re.escape(run)}"))
    expect(ui.running(page)).to_be_visible()
    expect(ui.metric(page, "Completed")).to_have_text(SOME_DONE)
    expect(ui.metric(page, "Completed")).not_to_have_text(seen, timeout=TRAIN_TIMEOUT)

    # Stop it from the Search page; the other browser sees it stop.
    ui.go_to(page, "Search")
    ui.button(page, "Stop").click()
    expect(ui.main(page)).to_contain_text(f"{run}: stopped", timeout=TRAIN_TIMEOUT)
    expect(ui.main(other)).to_contain_text(f"{run}: stopped", timeout=TRAIN_TIMEOUT)
    expect(ui.tracebacks(page)).to_have_count(0)
    expect(ui.tracebacks(other)).to_have_count(0)
