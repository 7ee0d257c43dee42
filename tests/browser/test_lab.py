"""Lab mode end to end in a real browser: logins, roles and ownership over one live search.

A real ``python -m tuning_core serve --lab`` on a loopback port (tests/lab_server.py) whose
only users are the fixture's, made with the ``user`` command line. One browser context per
user, so each has their own session cookie: member alice launches a search; member bob sees
it live but has no Stop and no Delete for it; viewer vera cannot scan nor launch; admin ada
stops it and reads both actions in the audit log; logging out ends the session for good.

That the engine itself refuses a forged stop or delete (one that skips the missing button)
is tests/lab/test_actor.py::test_roles_are_checked_by_the_engine_and_audited; not repeated here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ui
from tests.browser.test_journey import launch, pick_sample_data, the_run
from tests.browser.ui import TRAIN_TIMEOUT
from tests.lab_server import LabServer, lab_server
from tuning_core.lab.audit import AuditAction, audit_log

pytestmark = [pytest.mark.browser, pytest.mark.training]

USERS = {"ada": ("admin", "ada-password-1"), "alice": ("member", "alice-password-1"),
         "bob": ("member", "bob-password-1"), "vera": ("viewer", "vera-password-1")}
TRIALS = 200  # far more than will run: the search must still run while the others look


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory,
        request: pytest.FixtureRequest) -> Iterator[LabServer]:
    """One lab server for the module."""
    folder = tmp_path_factory.mktemp("lab")
    (folder / "workspace").mkdir()
    failed_before = request.session.testsfailed
    with lab_server(folder / "workspace", folder / "server.log", USERS) as server:
        try:
            yield server
        finally:
            if request.session.testsfailed > failed_before:
                print(f"--- end of the lab server's log ---\n{server.log_tail()}")


def url(server: LabServer, path: str = "/") -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def login_form(page: Page) -> None:
    """The login form is shown, and nothing of the app."""
    expect(page.get_by_label("User name")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()
    expect(page.get_by_test_id("stApp")).to_have_count(0)


def submit_login(page: Page, name: str, password: str) -> None:
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def log_in(page: Page, server: LabServer, name: str) -> None:
    """Opens the dashboard, logs in as ``name`` and waits for the Data page."""
    page.goto(url(server))
    submit_login(page, name, USERS[name][1])
    expect(ui.heading(page, "Data")).to_be_visible()
    ui.settled(page)


def test_lab_members_viewer_and_admin_share_one_live_search(lab: LabServer, new_page):
    alice = new_page()
    alice.goto(url(lab, "/search"))
    login_form(alice)
    submit_login(alice, "alice", "not-her-password")
    expect(alice.get_by_role("alert")).to_contain_text("the user name or the password is wrong")
    login_form(alice)
    submit_login(alice, "alice", USERS["alice"][1])
    expect(ui.heading(alice, "Search")).to_be_visible()  # back where she was going
    alice.reload()
    expect(ui.heading(alice, "Search")).to_be_visible()  # the session outlives a reload
    ui.settled(alice)
    ui.go_to(alice, "Data")
    pick_sample_data(alice)
    ui.go_to(alice, "Search")
    launch(alice, TRIALS, 1)
    run = the_run(lab.workspace)
    expect(ui.running(alice)).to_be_visible(timeout=TRAIN_TIMEOUT)

    bob = new_page()
    log_in(bob, lab, "bob")
    ui.go_to(bob, "Monitor")
    expect(ui.main(bob)).to_contain_text(run)
    expect(ui.running(bob)).to_be_visible(timeout=TRAIN_TIMEOUT)
    ui.go_to(bob, "Search")
    expect(ui.running(bob)).to_be_visible()  # the panel is drawn: alice's run, live...
    expect(ui.button(bob, "Stop")).to_have_count(0)  # ...and no Stop for bob

    vera = new_page()
    log_in(vera, lab, "vera")
    expect(ui.button(vera, "Use sample dataset")).to_be_disabled()
    ui.set_text(vera, "Image folder", str(lab.workspace / "data" / "digits"))
    ui.click(vera, "Scan folder")
    expect(ui.errors(vera)).to_contain_text("needs the member role")
    ui.go_to(vera, "Search")
    start = ui.main(vera).get_by_role("button", name=re.compile(r"^(Launch|Queue) search$"))
    expect(start).to_be_disabled()
    target = ui.main(vera).get_by_test_id("stTooltipHoverTarget").filter(
        has=vera.get_by_role("button", name=re.compile(r"^(Launch|Queue) search$")))
    tooltip = vera.get_by_test_id("stTooltipContent")
    for _ in range(5):  # the live Search panel reruns every second: a rerun can drop the hover
        vera.mouse.move(0, 0)
        target.hover()
        try:
            expect(tooltip).to_be_visible(timeout=5_000)
            break
        except AssertionError:
            continue
    expect(tooltip).to_contain_text("member role")
    vera.goto("about:blank")  # one viewer fewer polling the server while it trains

    ada = new_page()
    log_in(ada, lab, "ada")
    nav = ada.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Audit log", exact=True)).to_be_visible()
    ui.go_to(ada, "Search")
    expect(ui.running(ada)).to_be_visible(timeout=TRAIN_TIMEOUT)
    ui.button(ada, "Stop").click()
    expect(ui.main(ada)).to_contain_text(f"{run}: stopped", timeout=TRAIN_TIMEOUT)
    expect(ui.main(alice)).to_contain_text(f"{run}: stopped", timeout=TRAIN_TIMEOUT)

    ui.go_to(bob, "Runs")
    expect(ui.button(bob, "Delete run")).to_be_disabled()  # stopped, but not his
    ui.go_to(alice, "Runs")
    expect(ui.button(alice, "Delete run")).to_be_enabled()  # hers: the contrast

    ui.go_to(ada, "Audit log")
    expect(ui.main(ada)).to_contain_text(re.compile(r"The latest \d+ events, newest first"))
    expect(ui.main(ada).get_by_test_id("stDataFrame")).to_be_visible()
    # The table is drawn on a canvas: what it lists is read from the log it shows.
    events = [(e.user, e.action, e.target, e.address)
              for e in audit_log(lab.workspace).latest(100)]
    assert ("alice", AuditAction.LAUNCH, run, "127.0.0.1") in events  # who, what, from where
    assert ("ada", AuditAction.STOP, run, "127.0.0.1") in events
    for name in ("alice", "ada"):  # the addresses the gate saw at login
        assert (name, AuditAction.LOGIN, None, "127.0.0.1") in events
    expect(ui.tracebacks(ada)).to_have_count(0)

    kept = ada.context.cookies()
    ada.get_by_test_id("stSidebar").get_by_role("link", name="Log out").click()
    login_form(ada)
    ada.context.add_cookies(kept)  # a copy of the old cookie, put back
    ada.goto(url(lab))
    login_form(ada)

