"""Choosing by cost and checking the data, in Chromium: the Pareto chart drawn, a point
clicked and that trial retrained, the health list shown and a leak excluded."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import ui
from tuning_core.core.workspace import RUNS
from tuning_core.model.health import check_run
from tuning_core.runs.rundir import RunDir

pytestmark = [pytest.mark.browser, pytest.mark.training]


def planted_copy(augmented_run: Path, workspace: Path, images: Path) -> tuple[Path, str]:
    """The trained run in the server's workspace, a test image replaced by a train image,
    its data checked (2 folds of 1 epoch)."""
    run = Path(shutil.copytree(augmented_run, workspace / RUNS / augmented_run.name))
    split = json.loads((run / "split.json").read_text())
    data = Path(shutil.copytree(split["root"], images))
    split["root"] = str(data)
    (run / "split.json").write_text(json.dumps(split))
    shutil.copyfile(data / split["train"][0][0], data / split["test"][0][0])
    check_run(run, folds=2, epochs=1)
    # Measured latencies are noisy; fixed ones make the worse trial the dominated one.
    ranked, log = RunDir(run).best_trials(), RunDir(run).log_writer()
    for cost, trial in enumerate(ranked, start=1):
        log.write("trial_cost", trial_id=trial.trial_id, params=1000 * cost, macs=10_000 * cost,
                  model_bytes=8000, latency_ms=float(cost), threads=1)
    return run, split["test"][0][0]


def test_retrain_a_trial_clicked_on_the_front_and_exclude_a_leak(app_server, page,
                                                                 augmented_run, tmp_path,
                                                                 screenshots):
    run, leaked = planted_copy(augmented_run, app_server.workspace, tmp_path / "images")
    ui.open_app(page, f"{app_server.url}/best?run={run.name}", "Best model")
    main = ui.main(page)
    chart = main.locator(".js-plotly-plot").filter(has_text="against cpu latency")
    expect(chart).to_be_visible()
    points = chart.locator(".scatterlayer .points path")
    expect(points).to_have_count(2)  # the run's two trials
    screenshots(page, "front", focus=main.get_by_role("heading", name="Choose by cost"))
    picker = main.get_by_role("combobox", name="Trial to retrain (click a point, or pick)")
    expect(picker).to_have_value(re.compile("on the front$"))  # the front's trial comes first
    box = points.first.bounding_box()  # the dominated trial (traces: dominated, then front)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    ui.settled(page)
    expect(picker).not_to_have_value(re.compile("on the front$"))  # the click chose it
    chosen = re.search(r"trial (\d+) \(", picker.input_value()).group(1)
    ui.set_number(page, "Epochs", 2)
    ui.click(page, "Retrain this trial")
    # The retrain's check may refuse a short retrain of a trial that got lucky in the search
    # (1.000 on 12 validation images after a jump from chance): what the click must decide is
    # which trial is retrained, and the page must say how that retrain ended.
    refused = re.compile(r"retrain refused after \d+ attempt")
    ended = main.get_by_text(re.compile(rf"retrained from trial {chosen} \(")).or_(
        main.get_by_text(refused))
    expect(ended.first).to_be_visible(timeout=ui.TRAIN_TIMEOUT)
    started = [json.loads(line) for line in (run / "retrain.jsonl").read_text().splitlines()
               if '"retrain_start"' in line]
    assert [str(s["number"]) for s in started] == [chosen]
    expect(ui.errors(page).filter(has_not_text=refused)).to_have_count(0)

    leaks = main.get_by_test_id("stExpander").filter(has_text="Duplicates across the split")
    leaks.locator("summary").click()
    expect(leaks.get_by_text(leaked)).to_be_visible()
    screenshots(page, "health", focus=main.get_by_role("heading", name="Data health"))
    leaks.get_by_role("button", name="Exclude", exact=True).click()
    ui.settled(page)
    expect(main.get_by_text("Excluded from the next search of this dataset (1)")).to_be_visible()
    expect(ui.tracebacks(page)).to_have_count(0)
