"""Finding a run again in a real browser: name it, note it, filter to it, compare it with
another. The runs are written by hand into the server's workspace (no training)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import ui
from tests.conftest import write_image_folder
from tests.pages.support import make_run

pytestmark = pytest.mark.browser
PICKER = "Run (the other pages follow it)"


def picker_options(page, count: int):
    """Opens the run picker once it offers ``count`` runs; its options (close with Escape).

    A filter typed just before is applied by a rerun that may start after the picker opened
    (the rerun then closes it, or it still shows the old runs): open it again until it shows
    the filtered list. A click that lands while the page reruns is dropped as well.
    """
    options = page.get_by_role("option")
    for attempt in range(10):
        ui.settled(page)
        ui.main(page).get_by_role("combobox", name=PICKER).click()
        try:
            expect(options).to_have_count(count, timeout=5_000)
            return options
        except AssertionError:
            if attempt == 9:
                raise
            page.keyboard.press("Escape")
    return options


def test_name_a_run_find_it_and_compare_two(app_server, page, tmp_path, screenshots):
    images = write_image_folder(tmp_path / "images")
    older = make_run(app_server.workspace / "runs", images, trials=2)
    newer = make_run(app_server.workspace / "runs", images, trials=3)
    ui.open_app(page, f"{app_server.url}/?run={older.name}")  # app.py first: st.navigation
    ui.go_to(page, "Runs")
    main = ui.main(page)

    main.get_by_role("textbox", name="Name", exact=True).fill("Flip baseline")
    main.get_by_role("textbox", name="Notes", exact=True).fill("Horizontal flips, Adam")
    main.get_by_role("textbox", name="Tags (separated by commas)").fill("cnn, baseline")
    ui.click(page, "Save notes")
    expect(main.get_by_text(f"Saved the notes of {older.name}.")).to_be_visible()

    ui.set_text(page, "Search names, notes and tags", "flips")
    options = picker_options(page, 1)
    expect(options.first).to_have_text(f"Flip baseline · {older.name}")
    page.keyboard.press("Escape")
    ui.set_text(page, "Search names, notes and tags", "")
    picker_options(page, 2)
    page.keyboard.press("Escape")

    ui.go_to(page, "Monitor")
    expect(main.get_by_text("Horizontal flips, Adam")).to_be_visible()

    ui.go_to(page, "Compare")
    history = ui.charts(page).filter(has_text="so far, by trial")
    expect(history).to_contain_text("Flip baseline")
    expect(history).to_contain_text(newer.name)
    expect(ui.charts(page).filter(has_text="best trial")).to_contain_text(newer.name)
    screenshots(page, "compare")
    expect(ui.tracebacks(page)).to_have_count(0)
