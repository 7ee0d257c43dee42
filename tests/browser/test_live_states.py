"""Every live page follows a run from whatever state it was opened in, without a reload.

A page opened at any moment of a run (no run yet, queued, started with no trial, running,
finished, stopped, failed), reached by the sidebar, a deep link, a reload or the back button,
fills in to the end by itself; a feed that stops answering says so on the page and recovers
by itself. Issue: a Monitor opened the moment "Search started" showed never updated.

Most states here are written by the test itself, as a search in another process would write
them (the run's lock, its trial log): the pages read only the run folder, so this is the same
path a CLI search or a second server takes, and it lets the test hold each state as long as
it likes. The queued job and the first test's search are trained for real by the server.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ui
from tests.browser.conftest import serve_process
from tests.browser.test_journey import launch, pick_sample_data, the_run
from tests.browser.ui import TRAIN_TIMEOUT, UI_TIMEOUT
from tests.conftest import write_image_folder
from tests.pages.support import write_trial
from tuning_core.data.dataset import ImageConfig
from tuning_core.jobs.dispatcher import queue_for
from tuning_core.jobs.records import QueueKind
from tuning_core.runs.catalogue import create_run
from tuning_core.runs.locks import LockHolder, machine_slot
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.space.presets import get_preset

pytestmark = [pytest.mark.browser]

FEED_WAIT = 20_000  # ms: a poll a second, a build, a draw; generous for a busy machine
IDLE_WAIT = 30_000  # ms: a page with nothing training looks again every 5 s


def status(page: Page) -> str:
    return ui.main(page).locator("[data-live-part='status']").inner_text()


def expect_status(page: Page, pattern: str, timeout: float = FEED_WAIT) -> None:
    expect(ui.main(page).locator("[data-live-part='status']")).to_contain_text(
        re.compile(pattern), timeout=timeout)


def sidebar(page: Page):
    return page.get_by_test_id("stSidebar").locator("[data-live-part='sidebar']")


def stale_notice(page: Page):
    return page.locator(".live-stale")


class ForeignSearch:
    """A search as another process runs it, written step by step by the test: its run folder,
    its lock (held by this process) and its trial log."""

    def __init__(self, workspace: Path, data: Path, trials: int = 3, name: str = "") -> None:
        config = RunConfig(data_dir=str(data), space=get_preset("small"), name=name,
                           image=ImageConfig(16, "rgb"),
                           tuner=TunerSettings(tuner="random", max_trials=trials, epochs=2))
        self.run = RunDir(create_run(workspace / "runs", config))
        self.trials, self.lock, self.log = trials, self.run.lock(), self.run.log_writer()

    @property
    def name(self) -> str:
        return self.run.name

    def start(self) -> None:
        self.lock.acquire(LockHolder.mine("search", target=self.name))
        self.log.write("search_start", max_trials=self.trials, tuner="random")

    def trial(self, i: int, score: float | None = 0.5) -> None:
        write_trial(self.log, i, score=score)

    def end(self, status: str, message: str | None = None) -> None:
        self.log.write("search_end", status=status, message=message)
        self.lock.release()


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return write_image_folder(tmp_path / "images")


@pytest.mark.training  # the server trains it for real
def test_monitor_opened_the_moment_a_search_starts_fills_in_to_the_end(app_server, page):
    """The issue's path: launch, follow the sidebar link to Monitor at once, and watch."""
    ui.open_app(page, app_server.url)
    pick_sample_data(page)
    ui.go_to(page, "Search")
    launch(page, 3, 2)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Monitor", exact=True).click()
    # the first Monitor of a server imports its charts' libraries while the search trains
    # in the same process: on a loaded machine that alone took over a minute
    expect(ui.heading(page, "Monitor")).to_be_visible(timeout=TRAIN_TIMEOUT)
    run = the_run(app_server.workspace)
    expect(ui.metric(page, "Completed")).to_have_text("3", timeout=TRAIN_TIMEOUT)
    expect_status(page, rf"{run}: finished")
    expect(sidebar(page)).to_contain_text(f"{run}finished")
    expect(ui.main(page).locator(".live-table tbody tr")).to_have_count(3)
    expect(stale_notice(page)).to_have_count(0)

    ui.go_to(page, "Search")  # and back with the browser's button
    # once the page has put its run in the address (a Back pressed before that update came
    # went back to Monitor, and the late update then put Search's address on that entry)
    expect(page).to_have_url(re.compile(r"/search\?run="), timeout=ui.UI_TIMEOUT)
    page.go_back()
    expect(ui.heading(page, "Monitor")).to_be_visible()
    expect(ui.metric(page, "Completed")).to_have_text("3")
    expect(ui.tracebacks(page)).to_have_count(0)


def test_every_state_reaches_open_pages_without_a_reload(app_server, new_page, images):
    workspace = app_server.workspace
    empty = new_page()  # Monitor with no run at all, through the sidebar
    ui.open_app(empty, app_server.url)
    ui.go_to(empty, "Monitor")
    expect(ui.main(empty)).to_contain_text("No run yet")

    # A run appears (made by another process, not started yet): the empty page takes it up.
    search = ForeignSearch(workspace, images, trials=3, name="foreign")
    expect_status(empty, rf"{search.name}: idle \(no trial yet\)", timeout=IDLE_WAIT)

    # Started, no trial yet: a deep link now, and the Search and Best pages.
    search.start()
    expect_status(empty, r"running trial 1/3", timeout=IDLE_WAIT)
    deep = new_page()
    ui.open_app(deep, f"{app_server.url}/monitor?run={search.name}", title="Monitor")
    expect(ui.main(deep)).to_contain_text("No trial has started yet")
    panels = new_page()
    ui.open_app(panels, f"{app_server.url}/search?run={search.name}", title="Search")
    best = new_page()
    ui.open_app(best, f"{app_server.url}/best?run={search.name}", title="Best model")
    expect(ui.main(best)).to_contain_text("No completed trial yet")

    # Running: trials end one by one; every page follows.
    search.trial(0, score=0.4)
    for page in (empty, deep):
        expect(ui.metric(page, "Completed")).to_have_text("1", timeout=FEED_WAIT)
    expect(sidebar(panels)).to_contain_text("1 of 3 trials done", timeout=FEED_WAIT)
    expect(ui.button(best, "Retrain best model")).to_be_visible(timeout=FEED_WAIT)
    deep.reload()  # a reload while it runs: the same run, still following
    expect(ui.heading(deep, "Monitor")).to_be_visible()
    expect(ui.metric(deep, "Completed")).to_have_text("1")

    # The feed stops answering: the page says so, quietly, and recovers by itself.
    deep.route("**/_live/**", lambda route: route.abort())
    expect(stale_notice(deep)).to_contain_text("Not updating", timeout=FEED_WAIT)
    search.trial(1, score=0.3)
    deep.unroute("**/_live/**")
    expect(stale_notice(deep)).to_have_count(0, timeout=FEED_WAIT)
    expect(ui.metric(deep, "Completed")).to_have_text("2", timeout=FEED_WAIT)

    # Stopped: the end reaches every page that watches.
    search.end("stopped")
    for page in (empty, deep):
        expect_status(page, rf"{search.name}: stopped")
    expect(ui.main(panels)).to_contain_text(f"{search.name}: stopped", timeout=FEED_WAIT)
    for page in (empty, deep, panels, best):
        expect(ui.tracebacks(page)).to_have_count(0)
        expect(stale_notice(page)).to_have_count(0)

    # Failed, opened by a deep link while it runs, with the reason shown when it ends.
    failing = ForeignSearch(workspace, images, trials=2, name="failing")
    failing.start()
    ui.open_app(deep, f"{app_server.url}/monitor?run={failing.name}", title="Monitor")
    expect_status(deep, r"running trial 1/2")
    failing.trial(0, score=None)
    failing.end("failed", "the data folder went away")
    expect_status(deep, rf"{failing.name}: failed")
    expect(sidebar(deep)).to_contain_text("the data folder went away")


@pytest.mark.training  # the server trains it for real
def test_a_queued_job_and_a_server_restart(app_server, new_page, images):
    """Queued behind another process's search, the job is followed from its place in the
    queue to its end (trained for real by the server); a server restart in between shows
    the notice until the server is back, then the page goes on by itself."""
    workspace = app_server.workspace
    slot = machine_slot()
    slot.acquire(LockHolder.mine("search", target="another process"))
    try:
        config = RunConfig(data_dir=str(images), space=get_preset("small"), name="queued",
                           image=ImageConfig(16, "rgb"),
                           tuner=TunerSettings(tuner="random", max_trials=2, epochs=1))
        run = RunDir(create_run(workspace / "runs", config))
        queue_for(workspace / "runs").enqueue(QueueKind.SEARCH, run.path, "local")
        page = new_page()
        ui.open_app(page, f"{app_server.url}/monitor?run={run.name}", title="Monitor")
        expect_status(page, r"queued \(#1\)")
        expect(sidebar(page)).to_contain_text("queued (#1)")

        restart(app_server)
        expect(stale_notice(page)).to_contain_text("Not updating", timeout=FEED_WAIT)
        with serve_process(Path(__file__).resolve().parents[2] / "serve_app.py", workspace,
                           app_server.log, port=port_of(app_server)):
            expect(stale_notice(page)).to_have_count(0, timeout=UI_TIMEOUT)
            expect_status(page, r"queued \(#1\)")
            slot.release()
            expect(ui.metric(page, "Completed")).to_have_text("2", timeout=TRAIN_TIMEOUT)
            expect_status(page, rf"{run.name}: finished")
            expect(ui.tracebacks(page)).to_have_count(0)
    finally:
        slot.release()  # nothing when already given back


def port_of(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def restart(server) -> None:
    """Stops the server's process group (its port is then free to be taken again)."""
    from tests.servers import stop_group

    stop_group(server.process, 5.0)
    deadline = time.monotonic() + 10
    while server.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)


def test_lab_mode_pages_follow_and_an_ended_session_says_so(tmp_path, new_page, images):
    """The same in lab mode, behind the login gate: a member's Monitor, opened by a deep link
    before the first trial, follows the run; once the session is gone (cookies cleared, as
    when it expires), the page says so instead of silently standing still."""
    from tests.lab_server import lab_server

    workspace = tmp_path / "lab-workspace"
    workspace.mkdir()
    users = {"ada": ("admin", "ada-password-1"), "mia": ("member", "mia-password-1")}
    with lab_server(workspace, tmp_path / "lab.log", users) \
            as server:
        base = f"http://127.0.0.1:{server.port}"
        search = ForeignSearch(workspace, images, trials=2, name="lab")
        search.start()
        page = new_page()
        page.goto(f"{base}/monitor?run={search.name}")
        page.get_by_label("User name").fill("mia")
        page.get_by_label("Password").fill("mia-password-1")
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{base}/monitor?run={search.name}")
        expect(ui.heading(page, "Monitor")).to_be_visible()
        expect(ui.main(page)).to_contain_text("No trial has started yet")
        search.trial(0, score=0.4)
        expect(ui.metric(page, "Completed")).to_have_text("1", timeout=FEED_WAIT)
        expect(sidebar(page)).to_contain_text("1 of 2 trials done")

        page.context.clear_cookies()
        search.trial(1, score=0.3)
        expect(stale_notice(page)).to_contain_text("your session has ended",
                                                   timeout=FEED_WAIT)
        expect(ui.metric(page, "Completed")).to_have_text("1")  # nothing leaks past the gate
        search.end("finished")
