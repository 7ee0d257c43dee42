"""One owner per run, seen from the browser: a search started from the command line is live on
the dashboard with its owner, cannot be resumed twice, stops from the browser; a SIGTERM of
the dashboard's server stops its own search cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import ui
from tests.browser.conftest import ROOT
from tests.browser.test_journey import launch, pick_sample_data, the_run
from tests.browser.ui import TRAIN_TIMEOUT

pytestmark = [pytest.mark.browser, pytest.mark.training]

SOME_DONE = re.compile(r"^[1-9]\d*$")


def _cli(*args: str, **popen) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    return subprocess.Popen([sys.executable, "-m", "tuning_core", *args], cwd=ROOT, env=env,
                            text=True, **popen)


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)  # waiting on another process's files, not on the page


def _events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def cli_search(app_server, **popen) -> tuple[subprocess.Popen, str]:
    """A long command-line search on the sample digits in the server's workspace, once it
    trains (holds its run's lock): the process and the run's name. The caller stops it."""
    data, runs = app_server.workspace / "data" / "digits", app_server.workspace / "runs"
    assert _cli("sample-data", str(data), stdout=subprocess.DEVNULL).wait(120) == 0
    search = _cli("search", "--data", str(data), "--runs-dir", str(runs), "--tuner", "random",
                  "--max-trials", "200", "--epochs", "1", "--image-size", "16", "--subset",
                  "0.2", **popen)
    try:
        _wait_for(lambda: runs.is_dir() and any(runs.glob("*/owner.json")))
    except BaseException:
        search.kill()
        raise
    return search, the_run(app_server.workspace)


def test_a_command_line_search_is_live_owned_and_stopped_from_the_browser(app_server,
                                                                          new_page):
    search, run = cli_search(app_server, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        page = new_page()
        ui.open_app(page, f"{app_server.url}/monitor?run={run}", title="Monitor")
        expect(ui.running(page)).to_be_visible(timeout=TRAIN_TIMEOUT)
        expect(ui.main(page)).to_contain_text(f"pid {search.pid}")  # the owner, by process
        done = ui.metric(page, "Completed")
        expect(done).to_have_text(SOME_DONE, timeout=TRAIN_TIMEOUT)
        expect(done).not_to_have_text(done.inner_text(), timeout=TRAIN_TIMEOUT)  # live

        ui.go_to(page, "Runs")
        expect(ui.main(page)).to_contain_text(f"pid {search.pid}")
        expect(ui.button(page, "Resume")).to_be_disabled()  # it runs: nothing to resume
        ui.go_to(page, "Search")
        ui.button(page, "Stop").click()
        out, _ = search.communicate(timeout=120)
        assert search.returncode == 0 and "search stopped" in out
        expect(ui.main(page)).to_contain_text(f"{run}: stopped", timeout=TRAIN_TIMEOUT)
        expect(ui.tracebacks(page)).to_have_count(0)
    finally:
        search.kill()
    events = _events(app_server.workspace / "runs" / run / "trials.jsonl")
    assert events[-1]["event"] == "search_end" and events[-1]["status"] == "stopped"
    assert sum(e["event"] == "search_start" for e in events) == 1


def test_sigterm_of_the_server_stops_its_search_cleanly(app_server, new_page):
    page = new_page()
    ui.open_app(page, app_server.url)
    pick_sample_data(page)
    ui.go_to(page, "Search")
    launch(page, 200, 1)
    run = the_run(app_server.workspace)
    log = app_server.workspace / "runs" / run / "trials.jsonl"
    _wait_for(lambda: log.is_file() and '"epoch_end"' in log.read_text())
    app_server.process.send_signal(signal.SIGTERM)  # what a service manager sends
    app_server.process.wait(timeout=120)
    events = _events(log)
    assert events[-1]["event"] == "search_end" and events[-1]["status"] == "stopped"
    ended = [e for e in events if e["event"] == "trial_end"]
    assert ended and ended[-1]["status"] in ("stopped", "completed")
    assert not (log.parent / "owner.json").exists()  # the run is free to resume
