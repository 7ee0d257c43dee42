"""The run report opened from disk in Chromium with the network off: it shows everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import VIEWPORT
from tuning_core.model.best import load_evaluation
from tuning_core.model.report import write_report

pytestmark = [pytest.mark.browser, pytest.mark.training]


def test_report_opens_offline_with_its_charts_and_images(browser, augmented_run: Path,
                                                         tmp_path: Path) -> None:
    path = write_report(augmented_run, tmp_path / "report.html")
    context = browser.new_context(viewport=VIEWPORT, offline=True)
    asked: list[str] = []
    context.route("**/*", lambda route: (asked.append(route.request.url),
                                        route.continue_() if route.request.url.startswith("file:")
                                        else route.abort()))
    failed: list[str] = []
    page = context.new_page()
    page.on("requestfailed", lambda request: failed.append(request.url))
    try:
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        headings = page.locator("h2").all_inner_texts()
        assert headings == ["Data", "Search space and tuner", "Trials", "Best model",
                            "Exports", "Provenance"]
        assert page.locator("svg polyline").count() >= 5  # objective, best so far, 2 x 2 curves
        assert page.locator("svg").first.bounding_box()["width"] > 100
        wrong = min(8, len(load_evaluation(augmented_run)["misclassified"]))
        images = page.locator("figure img")
        assert images.count() == wrong
        assert all(images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
                   for i in range(wrong))
        assert page.locator("table.confusion td").count() == 9
        assert [u for u in asked if not u.startswith("file:")] == [] and failed == []
    finally:
        context.close()
