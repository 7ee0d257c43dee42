"""The dashboard and the searches that the viewer figures (9 and 11) watch.

``dashboard`` starts ``streamlit run serve_app.py`` as ``make run`` does, on a free loopback
port with its own workspace and training-slot folder; ``new_run`` makes a run folder that a
``python -m tuning_core resume`` process (``start_search``) then trains, so viewers can open
the run before its search starts. The server and every search start on the CPU set of
``Setup.split`` (figure 9's module docstring says why the sides are pinned).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.harness.common import OUT, digits_dir, fresh_dir
from bench.viewers.browser import START_S
from bench.viewers.measure import CpuSplit
from bench.viewers.pinning import pinned

ROOT = Path(__file__).resolve().parents[2]  # the checkout, where serve_app.py is


@dataclass
class Setup:
    url: str
    server: subprocess.Popen
    data: Path
    runs: Path
    env: dict[str, str]
    log: Path
    split: CpuSplit | None  # None: nothing pinned


def server_env(workspace: Path, slot: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TUNING_LAB_MODE"}
    return {**env, "TUNING_WORKSPACE": str(workspace), "TUNING_SLOT_DIR": str(slot),
            "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except OSError:
        return False


def kill(process: subprocess.Popen) -> None:
    """SIGTERM then SIGKILL to the process's group (it was started in a session of its own)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=5)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def dashboard(env: dict[str, str], log: Path, cpus: frozenset[int] | None = None, *,
              port: int | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """``streamlit run serve_app.py`` (as ``make run``) on a free loopback port; its process
    group is killed after. serve_app.py routes deep links from the first request on, so the
    first page opened may be ``/monitor?run=...``. ``cpus``: the server's CPU set (None: as
    this thread's). ``port``: that port each try instead of a free one (a browser's cache
    is kept by origin: a server after another on the same port meets the browser's cache)."""
    url = ""
    for _attempt in range(3):  # another process may take the free port first
        url = f"http://127.0.0.1:{port or free_port()}"
        with log.open("ab") as out, pinned(cpus):
            server = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "serve_app.py", "--server.headless",
                 "true",
                 "--server.port", url.rsplit(":", 1)[1], "--server.address", "127.0.0.1",
                 "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + START_S
            while server.poll() is None and not healthy(url) and time.monotonic() < deadline:
                time.sleep(0.25)  # polling a server that is starting
            if server.poll() is None and healthy(url):
                break
        except BaseException:
            kill(server)
            raise
        kill(server)
    else:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"streamlit did not answer {url}/_stcore/health; its log:\n{tail}")
    try:
        yield server, url
    finally:
        kill(server)


def new_run(setup: Setup, trials: int, epochs: int) -> Path:
    """A new run folder with the settings ``search`` would give it, not trained yet: the
    viewers open it first, then ``resume`` trains it (a new run resumes as a first start)."""
    from tuning_core.data.dataset import ImageConfig, SplitConfig, scan
    from tuning_core.runs.catalogue import create_run
    from tuning_core.runs.schema import RunConfig, TunerSettings
    from tuning_core.space.presets import DEFAULT_PRESET, get_preset

    summary = scan(setup.data)
    config = RunConfig(
        data_dir=summary.root, space=get_preset(DEFAULT_PRESET), split=SplitConfig(seed=0),
        image=ImageConfig(image_size=16, color_mode=summary.suggested_color_mode()),
        tuner=TunerSettings(tuner="random", max_trials=trials, epochs=epochs, seed=0))
    return create_run(setup.runs, config)


def start_search(setup: Setup, run: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "tuning_core", "resume", str(run)]
    with setup.log.with_name("searches.log").open("ab") as out, \
            pinned(setup.split.work if setup.split else None):
        return subprocess.Popen(command, cwd=ROOT, env=setup.env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def exited(pid: int) -> bool:
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def wait_training(run: Path, search: subprocess.Popen) -> None:
    """Returns once the search holds the run's lock (its process tree is then complete)."""
    from tuning_core.runs.rundir import RunDir

    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline and not exited(search.pid):
        if RunDir(run).holder() is not None:
            return
        time.sleep(0.1)  # waiting for another process's lock file
    raise RuntimeError(f"{run.name} did not start training within {START_S:.0f} s")


def fresh_setup(name: str) -> tuple[Path, dict[str, str], Path, Path]:
    """A figure's fresh folder under bench/out: (it, the server's and searches' environment,
    the workspace's runs folder, the digits data)."""
    work = fresh_dir(OUT / name)
    env = server_env(work / "workspace", fresh_dir(work / "slot"))
    runs = work / "workspace" / "runs"
    runs.mkdir(parents=True)
    return work, env, runs, digits_dir(work / "data")
