"""Mistakes a user can make in the browser give readable messages, and the app stays usable."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import ui
from tests.conftest import write_image_folder

pytestmark = pytest.mark.browser


def test_a_folder_that_does_not_exist_shows_an_error_and_the_app_stays_usable(
        app_server, page, tmp_path):
    missing = tmp_path / "no such folder"
    ui.open_app(page, app_server.url)
    ui.set_text(page, "Image folder", str(missing))
    ui.click(page, "Scan folder")
    expect(ui.errors(page)).to_contain_text("not found")
    expect(ui.errors(page)).to_contain_text(str(missing))
    expect(ui.tracebacks(page)).to_have_count(0)

    images = write_image_folder(tmp_path / "images", {"cats": 12, "dogs": 12})
    ui.set_text(page, "Image folder", str(images))
    ui.click(page, "Scan folder")
    expect(ui.metric(page, "Classes")).to_have_text("2")
    expect(ui.charts(page).first).to_be_visible()
    expect(ui.errors(page)).to_have_count(0)

    ui.go_to(page, "Search")
    expect(ui.main(page)).to_contain_text(str(images))
    expect(ui.button(page, "Launch search")).to_be_enabled()
    expect(ui.tracebacks(page)).to_have_count(0)
