"""Where the dashboard's own files are: a git checkout, or a package installed by pip.

A checkout has ``app.py``, ``pages/`` and ``.streamlit/`` at its top, beside ``tuning_core/``,
and keeps its workspace in ``workspace/`` there. The wheel installs the engine as the
``tuning_core`` package and the app (``app.py``, ``serve_app.py``, ``pages/``, ``labweb/``,
``.streamlit/``) as the folder ``tuning_dashboard/`` beside it in site-packages; an installed
dashboard never writes into site-packages, so its default workspace is a per-user data folder
(platformdirs: ``~/.local/share/tuning-dashboard`` on Linux, ``~/Library/Application
Support/tuning-dashboard`` on macOS, ``%LOCALAPPDATA%\\tuning-dashboard`` on Windows).
"""

from __future__ import annotations

import sys
from pathlib import Path

COMMAND = "tuning-dashboard"  # the console command the package installs
APP_FOLDER = "tuning_dashboard"  # the app's folder beside tuning_core/ in an installed wheel
_TOP = Path(__file__).resolve().parents[2]  # the checkout, or site-packages when installed


def is_checkout() -> bool:
    """True when running from the project's checkout (or an editable install of it)."""
    return (_TOP / "pyproject.toml").is_file() and (_TOP / "app.py").is_file()


def app_dir() -> Path:
    """The folder holding ``app.py``, ``serve_app.py``, ``pages/`` and ``.streamlit/``."""
    return _TOP if is_checkout() else _TOP / APP_FOLDER


def default_workspace() -> Path:
    """``workspace/`` in a checkout; the per-user data folder when installed."""
    if is_checkout():
        return _TOP / "workspace"
    from platformdirs import user_data_dir

    return Path(user_data_dir(COMMAND, appauthor=False))


def command_name() -> str:
    """How a user runs the command line here: the installed command, or ``python -m``."""
    if is_checkout() and Path(sys.argv[0]).name != COMMAND:
        return "python -m tuning_core"
    return COMMAND
