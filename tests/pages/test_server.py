"""The server every start builds (pages/common/server.py): its checks refuse an unsafe start in
one line, lab mode pins its settings, and the script's own arguments are read."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit import config

from pages.common.server import app_parts, prepare
from tuning_core.cli.serve import ServerArgs
from tuning_core.core.workspace import ENV_VAR
from tuning_core.lab.accounts import Role, user_store
from tuning_core.lab.config import LAB_ENV

OPTIONS = ("server.address", "server.port", "server.baseUrlPath", "server.enableXsrfProtection",
           "server.maxUploadSize", "server.enableStaticServing", "client.toolbarMode",
           "server.sslCertFile", "server.sslKeyFile")


@pytest.fixture
def streamlit_options(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Streamlit's options as a plain ``streamlit run`` from the checkout has them, restored
    after; the environment variables the server sets are restored too."""
    # set, then deleted: monkeypatch forgets a delenv of a variable that is not set, and
    # prepare() sets it (the whole process in lab mode after this test, its servers included)
    monkeypatch.setenv(LAB_ENV, "")
    monkeypatch.delenv(LAB_ENV)
    monkeypatch.setenv(ENV_VAR, os.environ.get(ENV_VAR, ""))
    saved = {key: (config.get_option(key), config.get_where_defined(key)) for key in OPTIONS}
    config.set_option("server.address", "127.0.0.1", "test")
    yield
    for key, (value, where) in saved.items():
        config.set_option(key, value, where)


def refused(capsys: pytest.CaptureFixture[str], args: ServerArgs) -> str:
    with pytest.raises(SystemExit) as stop:
        prepare(args)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tuning dashboard: ")
    return err


def test_the_network_without_lab_mode_is_refused(streamlit_options, capsys, workspace) -> None:
    config.set_option("server.address", "0.0.0.0", "command-line argument or environment")
    assert "refusing to listen on 0.0.0.0 without logins" in refused(capsys, ServerArgs())
    config.set_option("server.address", "", "<default>")  # streamlit's default: every interface
    assert "refusing to listen on every interface" in refused(capsys, ServerArgs())


def test_lab_mode_needs_an_admin_then_pins_its_settings(streamlit_options, capsys,
                                                        workspace: Path) -> None:
    assert "needs an admin" in refused(capsys, ServerArgs(lab=True))
    user_store().add("root", Role.ADMIN, "root-password")
    config.set_option("server.enableXsrfProtection", False, "a config file")
    config.set_option("server.maxUploadSize", 9999, "a config file")
    assert prepare(ServerArgs(lab=True)) is not None
    assert os.environ[LAB_ENV] == "1"
    assert config.get_option("server.enableXsrfProtection") is True
    assert config.get_option("server.maxUploadSize") == 50
    assert config.get_option("server.enableStaticServing") is False
    assert config.get_option("client.toolbarMode") == "viewer"


def test_lab_tls_that_streamlit_was_not_given_is_refused(streamlit_options, capsys,
                                                         workspace: Path) -> None:
    user_store().add("root", Role.ADMIN, "root-password")
    cert, key = workspace / "c.pem", workspace / "k.pem"
    cert.write_text("c"), key.write_text("k")
    (workspace / "lab" / "config.json").write_text(
        f'{{"tls_cert": "{cert}", "tls_key": "{key}"}}')
    assert "serves HTTPS" in refused(capsys, ServerArgs(lab=True))


def test_the_scripts_arguments_and_the_launchers_environment() -> None:
    assert ServerArgs.parse([], {}) == ServerArgs()
    assert ServerArgs.parse([], {LAB_ENV: "1"}).lab
    args = ServerArgs.parse(["--lab", "--workspace", "some/where"], {})
    assert args.lab and args.workspace == Path("some/where").resolve()


def test_an_unknown_argument_is_refused_in_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        ServerArgs.parse(["--bogus"], {})
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--bogus" in err and "--workspace DIR" in err


def test_local_mode_has_the_live_feed_and_the_lifespan(streamlit_options, workspace) -> None:
    parts = app_parts([])
    paths = {route.path for route in parts["routes"]}
    assert any(path.startswith("/_live/") for path in paths)
    assert parts["lifespan"] is not None and "middleware" not in parts


def test_the_warm_up_pays_the_first_pages_one_time_costs(monkeypatch) -> None:
    """After the start's warm-up, a page's first element does not walk the stack again, and
    scikit-learn's forest is imported."""
    import sys

    from streamlit import delta_generator, env_util

    from pages.common.server import warm_up

    monkeypatch.setattr(delta_generator, "_use_warning_has_been_displayed", False)
    walks = []
    monkeypatch.setattr(env_util, "is_repl", lambda: walks.append(1) or False)
    warm_up()
    assert "sklearn.ensemble" in sys.modules and walks == [1]
    delta_generator._maybe_print_use_warning()  # what a page's first element calls
    assert walks == [1]


def test_the_lifespan_puts_arrow_on_the_c_heap_before_serving(monkeypatch, workspace) -> None:
    """From the server's start on, Arrow (pandas' string columns) allocates from the heap that
    memory.give_back returns; the dispatcher and the warm-up are stubbed here."""
    import asyncio
    import threading

    import pyarrow as pa

    from pages.common import server

    for name in ("queued_registry", "warm_up", "shutdown_all"):
        monkeypatch.setattr(server, name, lambda *args: None)
    before = pa.default_memory_pool()
    seen = []

    async def serve() -> None:
        async with server.stop_jobs_at_shutdown(None):
            seen.append(pa.default_memory_pool().backend_name)

    try:
        if hasattr(pa, "mimalloc_memory_pool"):
            pa.set_memory_pool(pa.mimalloc_memory_pool())
        # in a thread of its own: an earlier test may leave this thread's event loop running
        runner = threading.Thread(target=asyncio.run, args=(serve(),))
        runner.start()
        runner.join(30)
    finally:
        pa.set_memory_pool(before)
    assert seen == ["system"]


def test_a_path_prefix_the_feed_would_not_follow_is_refused(streamlit_options, capsys,
                                                            workspace) -> None:
    config.set_option("server.baseUrlPath", "dash", "command-line argument or environment")
    assert "server.baseUrlPath" in refused(capsys, ServerArgs())
