"""The launcher: the network only with lab mode, lab mode only with an admin, and its flags."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tuning_core.cli.serve import ServeOptions, check_launch, is_loopback, streamlit_command
from tuning_core.core.errors import LabConfigError
from tuning_core.lab.accounts import Role, user_store
from tuning_core.lab.config import LabConfig

ROOT = Path(__file__).resolve().parents[2]


def _serve(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TUNING_WORKSPACE": str(workspace)}
    return subprocess.run([sys.executable, "-m", "tuning_core", "serve", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_network_without_lab_mode_is_refused_in_one_line(tmp_path: Path) -> None:
    done = _serve(tmp_path, "--address", "0.0.0.0", "--port", "1")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "refusing to listen on 0.0.0.0" in done.stderr and "make lab" in done.stderr


def test_lab_mode_without_an_admin_is_refused_and_says_how_to_add_one(tmp_path: Path) -> None:
    done = _serve(tmp_path, "--lab", "--address", "127.0.0.1", "--port", "1")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "python -m tuning_core user add NAME --role admin" in done.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_goes_through_the_launcher() -> None:
    shown = subprocess.run(["make", "-n", "run", "lab", "ADDRESS=0.0.0.0"], cwd=ROOT,
                           capture_output=True, text=True, timeout=30).stdout
    assert "-m tuning_core serve --port 8501 --address 0.0.0.0" in shown
    assert "-m tuning_core serve --lab --port 8501 --address 0.0.0.0" in shown


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("lab.example", False), ("", False)])
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_lab_flags_pin_the_security_settings(workspace: Path, tmp_path: Path) -> None:
    user_store().add("root", Role.ADMIN, "root-password")
    config = check_launch(ServeOptions("0.0.0.0", 8600, lab=True))
    assert config == LabConfig() and (workspace / "lab" / "secret.key").is_file()
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("c"), key.write_text("k")
    config = LabConfig(allowed_hosts=("a.lab", "b.lab"), max_upload_mb=20,
                       tls_cert=str(cert), tls_key=str(key)).validate()
    command = streamlit_command(ServeOptions("0.0.0.0", 8600, lab=True), config)
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("app.py")
    flags = dict(zip(command[5::2], command[6::2], strict=False))
    assert flags["--server.address"] == "0.0.0.0" and flags["--server.port"] == "8600"
    assert flags["--server.enableXsrfProtection"] == "true"
    assert flags["--server.enableCORS"] == "true"
    assert flags["--server.maxUploadSize"] == "20" and flags["--server.sslCertFile"] == str(cert)
    assert flags["--server.enableAgentApi"] == "false"
    assert command.count("--server.allowedHosts") == 2
    local = streamlit_command(ServeOptions(), check_launch(ServeOptions()))
    assert local[4].endswith("app.py")  # both modes: app.py defines the server too


def test_check_launch_refuses_in_process_too(workspace: Path) -> None:
    with pytest.raises(LabConfigError, match="without logins"):
        check_launch(ServeOptions("10.1.2.3"))
    with pytest.raises(LabConfigError, match="needs an admin"):
        user_store().add("bob", Role.MEMBER, "bob-password")
        check_launch(ServeOptions(lab=True))


def test_starlette_has_the_upload_fix() -> None:
    """CVE-2025-54121 (a blocking multipart upload) is fixed in starlette 0.47.2;
    constraints.txt pins a later release, and this says so if someone lowers it."""
    from importlib.metadata import version

    installed = tuple(int(p) for p in version("starlette").split(".")[:3])
    assert installed >= (0, 47, 2), f"starlette {installed} has CVE-2025-54121; pin >= 0.47.2"


def test_the_shipped_config_skips_streamlits_full_collection_after_every_run() -> None:
    # with TensorFlow loaded, a gc.collect(2) per script run was 70% of a live page's cost to
    # the server (benchmark figure 11): the shipped settings must keep it off
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
    assert config["runner"]["magicEnabled"] is False


def test_a_job_queued_before_a_start_runs_with_no_page_open(tmp_path: Path) -> None:
    """The dispatcher starts with the server, not with the first page: a job left queued by
    a restart starts by itself (here it fails at once, its data folder being gone, which is
    enough to see that it was taken up)."""
    import time

    from tests.lab_server import local_server
    from tests.pages.support import make_run
    from tuning_core.jobs.dispatcher import queue_for
    from tuning_core.jobs.records import JobState, QueueKind

    workspace = tmp_path / "workspace"
    run = make_run(workspace / "runs", tmp_path / "gone", trials=0, finished=False)
    queue = queue_for(workspace / "runs")
    job = queue.enqueue(QueueKind.SEARCH, run, "local")
    with local_server(workspace, tmp_path / "server.log"):
        deadline = time.monotonic() + 90
        while queue.get(job.id).state is JobState.QUEUED and time.monotonic() < deadline:
            time.sleep(0.5)
        assert queue.get(job.id).state is not JobState.QUEUED
