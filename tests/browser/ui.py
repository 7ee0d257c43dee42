"""What a user does and sees in the dashboard, as Playwright steps for the browser tests.

Every wait is a retrying ``expect`` on something the user would see, never a sleep. The
timeouts are generous because the app trains real models on a small, shared machine.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

UI_TIMEOUT = 60_000  # ms: a page run, including the first TensorFlow import (~10 s)
TRAIN_TIMEOUT = 600_000  # ms: a trial took up to 3 min on 2 cores shared with other suites
RUNNING = re.compile(r"running trial \d+/\d+")

expect.set_options(timeout=UI_TIMEOUT)  # Playwright's 5 s default is shorter than a page run


def main(page: Page) -> Locator:
    """The page's main area (not the sidebar nor the toolbar, whose Stop button is Streamlit's)."""
    return page.get_by_test_id("stMain")


def settled(page: Page, timeout: float = UI_TIMEOUT) -> None:
    """Waits until no script run is requested or running (a widget change has been applied)."""
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=timeout)


def heading(page: Page, title: str) -> Locator:
    """The page's title."""
    return main(page).get_by_role("heading", name=title, exact=True, level=1)


def open_app(page: Page, url: str, title: str = "Data") -> None:
    """Opens ``url`` and waits until the page ``title`` has been drawn."""
    page.goto(url)
    expect(page.get_by_test_id("stAppViewContainer")).to_be_visible(timeout=UI_TIMEOUT)
    expect(heading(page, title)).to_be_visible(timeout=UI_TIMEOUT)
    settled(page)


def go_to(page: Page, title: str) -> None:
    """Follows the sidebar link to the page ``title``."""
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name=title, exact=True).click()
    expect(heading(page, title)).to_be_visible(timeout=UI_TIMEOUT)
    settled(page)


def button(page: Page, label: str) -> Locator:
    """A button of the page (exact label)."""
    return main(page).get_by_role("button", name=label, exact=True)


def click(page: Page, label: str) -> None:
    """Clicks a button of the page and waits until the app has reacted."""
    button(page, label).click()
    settled(page)


def set_number(page: Page, label: str, value: int | float | str) -> None:
    """Types ``value`` into a number input and commits it with Enter."""
    field = main(page).get_by_role("spinbutton", name=label, exact=True)
    field.fill(str(value))
    field.press("Enter")
    expect(field).to_have_value(str(value))
    settled(page)


def set_text(page: Page, label: str, value: str) -> None:
    """Types ``value`` into a text input and commits it with Enter."""
    field = main(page).get_by_role("textbox", name=label, exact=True)
    field.fill(value)
    field.press("Enter")
    settled(page)


def choose_radio(page: Page, group: str, option: str) -> None:
    """Picks ``option`` of the radio group ``group``."""
    main(page).get_by_role("radiogroup", name=group).get_by_text(option, exact=True).click()
    settled(page)


def choose_option(page: Page, label: str, option: str) -> None:
    """Opens the select box ``label`` and picks ``option``.

    A rerun that starts just after the box opened closes it again: open it again then.
    """
    wanted = page.get_by_role("option", name=option, exact=True)
    for attempt in range(5):
        settled(page)
        main(page).get_by_role("combobox", name=label).click()
        try:
            expect(wanted).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            if attempt == 4:
                raise
            page.keyboard.press("Escape")
    wanted.click()
    expect(main(page).get_by_role("combobox", name=label)).to_have_value(option)
    settled(page)


def metric(page: Page, label: str) -> Locator:
    """The value shown by the metric ``label`` (e.g. "Completed"): a Streamlit metric, or one
    of the Monitor's live counts (tuning_core/live/answers.py).

    ``first``: while a rerun replaces a live fragment, Streamlit briefly keeps the stale copy.
    """
    widget = main(page).get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
    live = main(page).locator(f".live-metric[data-metric='{label}']")  # the Monitor's feed
    return widget.get_by_test_id("stMetricValue").or_(live.locator(".live-value")).first


def running(page: Page) -> Locator:
    """The "running trial k/N" status line of the page's run."""
    return main(page).get_by_text(RUNNING).first


def charts(page: Page) -> Locator:
    """The Plotly charts drawn in the page."""
    return main(page).locator(".js-plotly-plot")


def errors(page: Page) -> Locator:
    """Error messages (``st.error``) in the page."""
    return main(page).get_by_test_id("stAlertContentError")


def tracebacks(page: Page) -> Locator:
    """Exceptions rendered by Streamlit: a user must never see one."""
    return page.get_by_test_id("stException")


def screenshot(page: Page, path: Path, focus: Locator | None = None) -> None:
    """Saves the page from its top down to the end of its content (at most the viewport), or
    from ``focus`` down (a section further down the page, scrolled to the top)."""
    settled(page)
    page.evaluate("() => { document.activeElement?.blur();"
                  " document.querySelector('[data-testid=stMain]')?.scrollTo(0, 0); }")
    if focus is not None:
        focus.first.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.wait_for_function(  # thumbnails and galleries load after the page is drawn
        "() => [...document.querySelectorAll('[data-testid=stMain] img')]"
        ".every(img => img.complete && img.naturalWidth > 0)", timeout=UI_TIMEOUT)
    bottom = page.evaluate(
        "() => document.querySelector('[data-testid=stMainBlockContainer]')"
        ".getBoundingClientRect().bottom")
    size = page.viewport_size or {"width": 1280, "height": 1800}
    height = max(600, min(int(bottom) + 24, size["height"]))
    page.screenshot(path=path, clip={"x": 0, "y": 0, "width": size["width"], "height": height},
                    animations="disabled")
