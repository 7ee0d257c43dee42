"""The package as a user installs it: the wheel ``python -m build`` makes, installed with pip into a
fresh venv outside the checkout, then its command ``tuning-dashboard`` run from another folder.

The venv is the checkout's nowhere: it has no path into it (no editable install, no
``PYTHONPATH`` but the training guard's own folder) and its Python imports the engine from its
own site-packages. ``HOME`` is a folder of the test's, with no ``$TUNING_WORKSPACE``, so the
workspace is the documented per-user one and nothing is written into site-packages.
Installing TensorFlow and the rest takes a minute or two from pip's cache: the venv is made once
for the module and removed after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ui
from tests.browser.test_starts import TRIALS, queue_search, wait_claimed
from tests.browser.ui import TRAIN_TIMEOUT
from tests.conftest import write_image_folder
from tests.servers import HOST, free_port, serving

pytestmark = [pytest.mark.training]

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 1200


@dataclass(frozen=True)
class Installed:
    """A venv with the built wheel installed, and a user's home folder to run it in."""

    venv: Path
    home: Path
    wheel: Path

    @property
    def command(self) -> Path:
        return self.venv / "bin" / "tuning-dashboard"

    @property
    def workspace(self) -> Path:
        """The per-user workspace platformdirs names on Linux."""
        return self.home / ".local" / "share" / "tuning-dashboard"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("TUNING_WORKSPACE", "TUNING_LAB_MODE", "XDG_DATA_HOME", "VIRTUAL_ENV")}
        guard = str(ROOT / "tests" / "guard")  # the training guard only, nothing of the engine
        return {**env, "HOME": str(self.home), "PYTHONPATH": guard, "PYTHONUNBUFFERED": "1"}

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.command), *args], cwd=self.home, env=self.env(),
                              capture_output=True, text=True, timeout=timeout)


def _checked(command: list[str], cwd: Path, timeout: float = INSTALL_TIMEOUT_S) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-2000:]}{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    folder = tmp_path_factory.mktemp("install")
    dist, venv, home = folder / "dist", folder / "venv", folder / "home"
    home.mkdir()
    _checked([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], folder)
    wheel = next(dist.glob("tuning_dashboard-*.whl"))
    _checked([sys.executable, "-m", "venv", str(venv)], folder)
    _checked([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel),
              "-c", str(ROOT / "constraints.txt")], folder)
    try:
        yield Installed(venv, home, wheel)
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # 3 GB: not kept with pytest's last runs


def test_the_wheel_holds_the_engine_the_app_and_its_settings(installed: Installed) -> None:
    where = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c",
         "import tuning_core, sys; from tuning_core.core import install; "
         "print(tuning_core.__file__); print(install.app_dir()); print(install.is_checkout())"],
        cwd=installed.home, env=installed.env(), capture_output=True, text=True, timeout=120)
    engine, app, checkout = where.stdout.split()
    site = installed.venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert Path(engine).is_relative_to(site) and checkout == "False"
    for part in ("app.py", "serve_app.py", "pages/monitor.py", "pages/assets/live_feed.js",
                 "pages/assets/live_chart.js",
                 "pages/common/server.py", "labweb/gate.py", ".streamlit/config.toml"):
        assert (Path(app) / part).is_file(), part
    version = installed.run("--version", timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("tuning-dashboard ")


@pytest.mark.browser
def test_the_installed_command_serves_the_dashboard(installed: Installed, page: Page,
                                                    tmp_path: Path) -> None:
    port = free_port()
    url, log = f"http://{HOST}:{port}", tmp_path / "server.log"
    images = write_image_folder(tmp_path / "images", {"dark": 40, "light": 40})
    with serving([str(installed.command), "--port", str(port)], url, log, installed.env(),
                 installed.home):
        ui.open_app(page, url)  # the Data page
        expect(ui.heading(page, "Data")).to_be_visible()
        assert f"workspace {installed.workspace}" in log.read_text()
        run, job_id = queue_search(installed.workspace, images, "local")
        wait_claimed(installed.workspace, job_id)
        ui.open_app(page, f"{url}/monitor?run={run.name}", title="Monitor")
        completed = ui.metric(page, "Completed")
        expect(completed).to_be_visible()
        opened_at = int(completed.inner_text())
        expect(completed).to_have_text(str(TRIALS), timeout=TRAIN_TIMEOUT)
        expect(ui.tracebacks(page)).to_have_count(0)
        assert opened_at < TRIALS
    site_packages = next((installed.venv / "lib").glob("python3*/site-packages"))
    assert not list(site_packages.rglob("queue.sqlite3")), "a workspace inside site-packages"


def test_the_installed_command_runs_a_search(installed: Installed) -> None:
    sample = installed.run("sample-data", timeout=300)
    assert sample.returncode == 0, sample.stderr
    data = Path(sample.stdout.strip().splitlines()[-1])
    assert data.is_relative_to(installed.workspace)
    done = installed.run("search", "--data", str(data), "--max-trials", "1", "--epochs", "1",
                         "--image-size", "16", "--subset", "0.2")
    assert done.returncode == 0, done.stderr[-3000:]
    run = Path(done.stdout.strip().splitlines()[-1])
    assert run.parent == installed.workspace / "runs"
    assert "trial 1 " in done.stdout and "search finished" in done.stdout
    listed = installed.run("runs", timeout=120)
    assert listed.returncode == 0 and run.name in listed.stdout and "1/1" in listed.stdout
