"""Figure 14's other dashboard: Optuna Dashboard on the same completed trials.

The sweeps up to 10,000 trials are handed to Optuna (a study built with ``create_trial`` and
``add_trials``, in a venv of its own: :mod:`bench.workloads.optuna_study`; 50,000 is left out:
building and opening it took longer than the whole figure may), served by
``optuna-dashboard`` on a free loopback port and opened as our pages are
(:func:`bench.figures.fig14_visits.visits`); the figure's ratios set its overview's complete
time against our Monitor's.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.figures.fig14_visits import FIRST_EVER, WARM, logged, visits
from bench.viewers.browser import launch_chromium
from bench.viewers.painted import Sight
from bench.viewers.server import free_port

# outside the checkout: its packages are no module of this project's (tests/test_layers.py)
OPTUNA_VENV = Path(tempfile.gettempdir()) / "tuning-bench-optuna-venv"

# The overview: first content its first chart; complete once its history plot holds the
# trials' points (the axes come first, empty, while it reads the study). Its trial table drew
# no row for these studies within a minute (0.21.0), so it is not timed.
OVERVIEW = Sight(".js-plotly-plot", script=False, done=".js-plotly-plot .scatterlayer .point")


def optuna_rows(root: Path, sweeps: dict[str, Path]) -> tuple[list[dict[str, Any]], str]:
    """Optuna Dashboard on each sweep's completed trials; rows, and a note when it could not
    run (no venv of its own could be made)."""
    from playwright.sync_api import sync_playwright

    from bench.workloads.optuna_study import export_trials

    python = OPTUNA_VENV / "bin" / "python"
    if not python.exists():
        made = subprocess.run(f"{sys.executable} -m venv {OPTUNA_VENV} && {python} -m pip "
                              "install -q optuna optuna-dashboard", shell=True, check=False)
        if made.returncode:
            return [], "Optuna Dashboard could not be installed in its own venv."
    rows: list[dict[str, Any]] = []
    for name, path in sweeps.items():
        exported = root / f"{name}.json"
        export_trials(path, exported)
        subprocess.run([str(python), str(Path(__file__).parents[1] / "workloads" /
                                         "optuna_study.py"),
                        str(exported), f"sqlite:///{root / 'optuna.db'}", name], check=True,
                       capture_output=True)
    port = free_port()
    log = (root / "optuna.log").open("ab")
    cli = "import sys; from optuna_dashboard._cli import main; sys.exit(main())"
    server = subprocess.Popen([str(python), "-c", cli,
                               f"sqlite:///{root / 'optuna.db'}", "--host", "127.0.0.1",
                               "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url)
        with sync_playwright() as p:
            browser = launch_chromium(p)
            for study_id, name in enumerate(sweeps, start=1):
                for page_name, tail in (("overview", ""),):
                    found = visits(browser, f"{url}/dashboard/studies/{study_id}{tail}",
                                   OVERVIEW, server.pid)
                    for visit_kind, row in zip((FIRST_EVER, WARM), found, strict=True):
                        rows.append(logged(root, {
                            "dashboard": "Optuna Dashboard", "page": page_name,
                            "trials": int(name.split("-")[1]), "visit": visit_kind, **row}))
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    return rows, ""


def _wait_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/meta", timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"Optuna Dashboard did not answer at {url}")
