"""Fixtures of the real-browser tests: the app served on a free port, and headless Chromium.

Each test gets its own ``streamlit run app.py`` over an empty workspace (so runs and the
process-wide job registry never leak between tests) and a fresh browser context. The
server is killed afterwards, also when the test fails; a failing test leaves a screenshot
of the page and prints the end of the server's log.

Screenshots for the README: ``--screenshots`` (or ``SCREENSHOTS=1``) makes the journey
test save one PNG per page under ``docs/screenshots/``.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser import gallery, ui
from tests.servers import free_port, healthy, stop_group

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 1800}  # tall, so a screenshot holds most of a page
STARTUP_SECONDS = 120.0  # streamlit's own import is slow on 2 busy cores
STOP_SECONDS = 5.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--screenshots", action="store_true", default=False,
                     help="save one screenshot per page under docs/screenshots/")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "rep_call", None)
    return report is None or report.failed


@dataclass(frozen=True)
class AppServer:
    """A running dashboard: its address, workspace folder and log file."""

    url: str
    workspace: Path
    log: Path
    process: subprocess.Popen | None = None  # the ``streamlit run`` process (group leader)

    def log_tail(self, lines: int = 60) -> str:
        """The last lines the server wrote (for failure reports)."""
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])


def _start(workspace: Path, log: Path, script: Path,
           port: int | None = None) -> tuple[subprocess.Popen, str]:
    port = port or free_port()
    env = {**os.environ, "TUNING_WORKSPACE": str(workspace), "PYTHONUNBUFFERED": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "streamlit", "run", str(script),
               "--server.headless", "true", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false"]
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return process, f"http://127.0.0.1:{port}"


def _wait_healthy(process: subprocess.Popen, url: str) -> bool:
    """True once /_stcore/health answers ok; False when the server exits first."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if healthy(url):
            return True
        time.sleep(0.25)  # polling a server that is starting, not waiting on the page
    raise TimeoutError(f"streamlit did not answer {url}/_stcore/health within "
                       f"{STARTUP_SECONDS:.0f} s")


@contextmanager
def serve(script: Path, workspace: Path, log: Path) -> Iterator[str]:
    """``streamlit run script`` on a free localhost port; yields its URL, kills it after."""
    with serve_process(script, workspace, log) as (url, _process):
        yield url


@contextmanager
def serve_process(script: Path, workspace: Path, log: Path,
                  port: int | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """As :func:`serve`, also yielding the server process (to signal it). ``port``: this one
    (a restart on the port a page already uses), else a free one."""
    for _attempt in range(3):  # another process may take the free port before streamlit does
        process, url = _start(workspace, log, script, port)
        try:
            if _wait_healthy(process, url):
                break
        except BaseException:
            stop_group(process, STOP_SECONDS)
            raise
    else:
        pytest.fail(f"streamlit exited before answering; its log:\n"
                    f"{AppServer(url, workspace, log).log_tail()}")
    try:
        yield url, process
    finally:
        stop_group(process, STOP_SECONDS)


@pytest.fixture
def app_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[AppServer]:
    """The dashboard as ``make run`` serves it (``serve_app.py``) on a free localhost port,
    over an empty workspace."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    log = tmp_path / "streamlit.log"
    with serve_process(ROOT / "serve_app.py", workspace, log) as (url, process):
        server = AppServer(url, workspace, log, process)
        try:
            yield server
        finally:
            if _failed(request):
                print(f"--- end of the streamlit log ({log}) ---\n{server.log_tail()}")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, with a fresh profile (Playwright's temporary one)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("the browser tests need Debian's Chromium: run `make browser` "
                    "(or `sudo apt-get install chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable]:
    """Opens pages, each in its own browser context (a separate user); closes them after.

    On failure, each page's last state is saved as ``tmp_path/failure-<n>.png``.
    """
    contexts = []

    def open_page():
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(ui.UI_TIMEOUT)
        return page

    yield open_page
    for number, context in enumerate(contexts):
        if _failed(request):
            for page in context.pages:
                path = tmp_path / f"failure-{number}.png"
                try:
                    page.screenshot(path=path)
                    print(f"screenshot of the failing page: {path}")
                except Exception as error:  # a crashed page must not hide the real failure
                    print(f"no screenshot of the failing page: {error}")
        context.close()


@pytest.fixture
def page(new_page):
    """One browser page in a fresh context."""
    return new_page()


@dataclass(frozen=True)
class Screenshots:
    """``screenshots(page, "data")`` saves docs/screenshots/data.png when ``enabled``, notes the
    day in docs/screenshots/taken.json and redraws the README's table of screenshots."""

    enabled: bool
    folder: Path = SCREENSHOT_DIR

    def __call__(self, page, name: str, focus=None) -> None:
        if self.enabled:
            self.folder.mkdir(parents=True, exist_ok=True)
            ui.screenshot(page, self.folder / f"{name}.png", focus)
            gallery.record(self.folder, name, datetime.date.today())
            gallery.update_readme(ROOT / "README.md", self.folder)


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Screenshots:
    """Saves pages for the README when run with ``--screenshots`` or ``SCREENSHOTS=1``."""
    return Screenshots(bool(request.config.getoption("screenshots", default=False))
                       or os.environ.get("SCREENSHOTS") == "1")
