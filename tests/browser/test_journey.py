"""A new user's whole journey in a real browser: sample data to a downloaded, loadable model.

With ``--screenshots`` (or ``SCREENSHOTS=1``) the same journey saves each page under
docs/screenshots/, after a somewhat longer search so that the charts have something to show.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import ui
from tests.browser.ui import TRAIN_TIMEOUT, UI_TIMEOUT

pytestmark = [pytest.mark.browser, pytest.mark.training]

IMAGE_SIZE = 16
SUBSET = "0.25"  # fraction of the training images each trial sees: short trials
TRIALS, EPOCHS = 2, 1
README_TRIALS, README_EPOCHS = 5, 3  # for screenshots: curves, importance (>= 3 trials)
SCORE = re.compile(r"^[01]\.\d{4}$")


def pick_sample_data(page) -> None:
    """Data page: the digits sample, its class chart, small images for a fast search."""
    ui.click(page, "Use sample dataset")
    expect(ui.charts(page).first).to_be_visible(timeout=TRAIN_TIMEOUT)
    expect(ui.metric(page, "Classes")).to_have_text("10")
    ui.set_number(page, "Image size (pixels, square)", IMAGE_SIZE)
    ui.set_number(page, "Search subset", SUBSET)


def pick_small_preset(page) -> None:
    """Search space page: the small preset, and the app says it is valid."""
    ui.choose_option(page, "Preset", "Small (fast)")
    ui.click(page, "Apply preset")
    expect(ui.main(page).get_by_text("The space is valid.")).to_be_visible()


def launch(page, trials: int, epochs: int) -> None:
    """Search page: a random search of ``trials`` x ``epochs``, launched and confirmed."""
    ui.choose_radio(page, "Tuner", "Random")
    ui.set_number(page, "Max trials", trials)
    ui.set_number(page, "Epochs per trial", epochs)
    expect(ui.main(page)).to_contain_text(f"{IMAGE_SIZE} px")
    ui.button(page, "Launch search").click()
    ui.button(page, "Confirm launch").click()
    expect(ui.main(page).get_by_text("Search started")).to_be_visible(timeout=UI_TIMEOUT)


def the_run(workspace: Path) -> str:
    """The name of the only run in the workspace."""
    runs = [p.name for p in (workspace / "runs").iterdir() if (p / "run.json").is_file()]
    assert len(runs) == 1, runs
    return runs[0]


def load_downloaded_model(path: Path):
    import keras

    return keras.models.load_model(path)


def test_journey_from_sample_data_to_a_downloaded_model(app_server, page, screenshots,
                                                          tmp_path):
    trials, epochs = (README_TRIALS, README_EPOCHS) if screenshots.enabled else (TRIALS, EPOCHS)
    ui.open_app(page, app_server.url)
    pick_sample_data(page)
    screenshots(page, "data")

    ui.go_to(page, "Search space")
    pick_small_preset(page)
    screenshots(page, "space")

    ui.go_to(page, "Search")
    launch(page, trials, epochs)
    expect(ui.main(page).get_by_role("progressbar")).to_be_visible()
    screenshots(page, "search")
    run = the_run(app_server.workspace)

    ui.go_to(page, "Monitor")
    main = ui.main(page)
    expect(main).to_contain_text(run)
    expect(ui.running(page)).to_be_visible(timeout=TRAIN_TIMEOUT)
    # No reload from here on: the page must fill in by itself.
    expect(ui.metric(page, "Completed")).to_have_text(str(trials), timeout=TRAIN_TIMEOUT)
    expect(main).to_contain_text(f"{run}: finished", timeout=UI_TIMEOUT)
    expect(ui.charts(page).filter(has_text="per trial").first).to_be_visible()
    expect(ui.charts(page).filter(has_text="Learning curves").first).to_be_visible()
    expect(main.locator(".live-table tbody tr")).to_have_count(trials)  # the live trial table
    expect(ui.tracebacks(page)).to_have_count(0)
    screenshots(page, "monitor")

    ui.go_to(page, "Best model")
    ui.set_number(page, "Epochs", epochs)
    ui.button(page, "Retrain best model").click()
    expect(ui.metric(page, "Test accuracy")).to_have_text(SCORE, timeout=TRAIN_TIMEOUT)
    expect(ui.charts(page).filter(has_text="Confusion matrix").first).to_be_visible()
    expect(main.get_by_text("Retraining: epoch")).to_have_count(0, timeout=UI_TIMEOUT)
    expect(ui.tracebacks(page)).to_have_count(0)
    screenshots(page, "best")

    with page.expect_download(timeout=UI_TIMEOUT) as download:
        ui.button(page, "Download model (.keras)").click()
    model_path = tmp_path / "downloaded.keras"
    download.value.save_as(model_path)
    assert model_path.stat().st_size > 0

    ui.go_to(page, "Runs")
    expect(main.get_by_role("combobox", name="Run (the other pages follow it)")) \
        .to_have_value(run)
    screenshots(page, "runs")

    model = load_downloaded_model(model_path)
    assert model.input_shape[1:3] == (IMAGE_SIZE, IMAGE_SIZE)
    assert model.output_shape[-1] == 10
