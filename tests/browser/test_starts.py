"""Every way of starting the dashboard gives the same one: live pages, the queue's dispatcher
from server start, and in lab mode the login gate.

Each way is started as a user types it, from the checkout: ``make run``, ``make lab``,
``python -m tuning_core serve [--lab]``, ``streamlit run app.py`` with extra flags of its own
(and with ``-- --lab --workspace DIR``, lab mode and the workspace said to the script), and
``streamlit run serve_app.py``. (The installed ``tuning-dashboard`` is tests/test_install.py.)
For each: a search queued with no page open starts by itself (the dispatcher runs from server
start), a Monitor opened before its first trial ends fills in to the end without a reload (the
live feed), and in lab mode nothing shows before a login (the gate).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ui
from tests.browser.test_lab import login_form, submit_login
from tests.browser.ui import TRAIN_TIMEOUT
from tests.conftest import write_image_folder
from tests.lab_server import run_cli
from tests.servers import HOST, free_port, serving
from tuning_core.data.dataset import ImageConfig
from tuning_core.jobs.dispatcher import queue_for
from tuning_core.jobs.records import JobState, QueueKind
from tuning_core.runs.catalogue import create_run
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.space.presets import get_preset

pytestmark = [pytest.mark.browser, pytest.mark.training]

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
TRIALS = 3
ADMIN = ("ada", "ada-password-1")
CLAIM_S = 60.0  # the dispatcher looks every second; a server's first seconds are busy


@dataclass(frozen=True)
class Way:
    """One way of starting the dashboard: its command (``{port}`` and ``{workspace}`` filled
    in), whether it serves lab mode, and whether the workspace comes from the environment."""

    name: str
    command: tuple[str, ...]
    lab: bool = False
    workspace_from_env: bool = True

    def argv(self, port: int, workspace: Path) -> list[str]:
        return [part.format(port=port, workspace=workspace, py=PY) for part in self.command]


WAYS = [
    Way("make run", ("make", "run", "PORT={port}")),
    Way("make lab", ("make", "lab", "PORT={port}", f"ADDRESS={HOST}"), lab=True),
    Way("python -m tuning_core serve", ("{py}", "-m", "tuning_core", "serve", "--port", "{port}")),
    Way("python -m tuning_core serve --lab", ("{py}", "-m", "tuning_core", "serve", "--lab",
                                              "--address", HOST, "--port", "{port}"), lab=True),
    Way("streamlit run app.py", ("{py}", "-m", "streamlit", "run", "app.py", "--server.port",
                                 "{port}", "--theme.base", "dark", "--server.runOnSave", "false")),
    Way("streamlit run app.py -- --lab --workspace", (
        "{py}", "-m", "streamlit", "run", "app.py", "--server.port", "{port}", "--",
        "--lab", "--workspace", "{workspace}"), lab=True, workspace_from_env=False),
    Way("streamlit run serve_app.py", ("{py}", "-m", "streamlit", "run", "serve_app.py",
                                       "--server.port", "{port}")),
]


def queue_search(workspace: Path, images: Path, owner: str) -> tuple[RunDir, int]:
    """A small search put in the workspace's queue, as the Search page or ``--queue`` does."""
    config = RunConfig(data_dir=str(images), space=get_preset("small"), name="started",
                       image=ImageConfig(16, "rgb"),
                       tuner=TunerSettings(tuner="random", max_trials=TRIALS, epochs=2))
    run = RunDir(create_run(workspace / "runs", config))
    job = queue_for(workspace / "runs").enqueue(QueueKind.SEARCH, run.path, owner)
    return run, job.id


def wait_claimed(workspace: Path, job_id: int) -> None:
    """The queued job leaves the queue with no page open: the server's dispatcher took it."""
    queue = queue_for(workspace / "runs")
    deadline = time.monotonic() + CLAIM_S
    while queue.get(job_id).state is JobState.QUEUED:
        assert time.monotonic() < deadline, "no page open, and the queued job never started"
        time.sleep(0.25)  # the server's dispatcher, not a page


def log_in(page: Page, url: str) -> None:
    """Lab mode: the gate shows only its login form until the admin logs in."""
    page.goto(url)
    login_form(page)
    submit_login(page, *ADMIN)
    expect(ui.heading(page, "Data")).to_be_visible()


@pytest.mark.parametrize("way", WAYS, ids=[way.name for way in WAYS])
def test_every_start_serves_live_pages_the_queue_and_the_gate(way: Way, tmp_path: Path,
                                                              page: Page) -> None:
    workspace, port = tmp_path / "workspace", free_port()
    workspace.mkdir()
    images = write_image_folder(tmp_path / "images", {"dark": 40, "light": 40})
    if way.lab:
        done = run_cli(workspace, "user", "add", ADMIN[0], "--role", "admin",
                       stdin=ADMIN[1] + "\n")
        assert done.returncode == 0, done.stderr
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("TUNING_LAB_MODE", None)
    if way.workspace_from_env:
        env["TUNING_WORKSPACE"] = str(workspace)
    else:
        env.pop("TUNING_WORKSPACE", None)
    url, log = f"http://{HOST}:{port}", tmp_path / "server.log"
    with serving(way.argv(port, workspace), url, log, env, ROOT):
        if way.lab:
            log_in(page, url)
        run, job_id = queue_search(workspace, images, ADMIN[0] if way.lab else "local")
        wait_claimed(workspace, job_id)
        ui.open_app(page, f"{url}/monitor?run={run.name}", title="Monitor")
        completed = ui.metric(page, "Completed")
        expect(completed).to_be_visible()
        opened_at = int(completed.inner_text())
        expect(completed).to_have_text(str(TRIALS), timeout=TRAIN_TIMEOUT)
        expect(ui.main(page).locator("[data-live-part='status']")).to_contain_text(
            f"{run.name}: finished")
        expect(ui.tracebacks(page)).to_have_count(0)
        assert opened_at < TRIALS, f"the Monitor opened after the search ended ({way.name})"
        assert f"Tuning dashboard on {url}" in log.read_text()
        assert ("lab mode" in log.read_text()) == way.lab
