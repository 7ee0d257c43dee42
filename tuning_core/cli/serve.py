"""The launcher behind ``make run`` and ``make lab``: checks, then hands over to streamlit.

Both modes serve ``serve_app.py`` (the pages of ``app.py`` as an ASGI app). Local mode listens on a
loopback address only, with no login. Lab mode puts the pages behind the login gate and refuses to
start without an admin account. Listening on any other address without lab mode is refused, so the
dashboard is never on the network without logins.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tuning_core.core.errors import LabConfigError
from tuning_core.lab.accounts import user_store
from tuning_core.lab.config import LAB_ENV, LabConfig, load_lab_config
from tuning_core.lab.files import lab_dir
from tuning_core.lab.sessions import load_secret

ROOT = Path(__file__).resolve().parents[2]
ADD_ADMIN = "python -m tuning_core user add NAME --role admin"


@dataclass(frozen=True)
class ServeOptions:
    """Where to listen and in which mode."""

    address: str = "127.0.0.1"
    port: int = 8501
    lab: bool = False

    @property
    def script(self) -> Path:
        """The script streamlit runs (it reads the mode from the environment serve() sets)."""
        return ROOT / "serve_app.py"


def is_loopback(address: str) -> bool:
    """True for ``localhost`` and loopback IPs (127.0.0.0/8, ::1); False for anything else."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_launch(options: ServeOptions, workspace: Path | None = None) -> LabConfig | None:
    """The lab config to serve with (None in local mode); LabConfigError when refused."""
    if not options.lab:
        if not is_loopback(options.address):
            raise LabConfigError(
                f"refusing to listen on {options.address} without logins; for the lab network "
                f"add an admin ({ADD_ADMIN}) and run `make lab ADDRESS={options.address}`.")
        return None
    config = load_lab_config(workspace)
    store = user_store(workspace)
    if not store.has_admin():
        raise LabConfigError(f"lab mode needs an admin and {store.path} has none; "
                             f"add the first one with: {ADD_ADMIN}")
    load_secret(lab_dir(workspace))  # made now, so the first two requests never race for it
    return config


def streamlit_flags(options: ServeOptions, config: LabConfig | None) -> list[str]:
    """The ``streamlit run`` flags of a launch (security settings pinned in lab mode)."""
    flags = ["--server.address", options.address, "--server.port", str(options.port)]
    if config is None:
        return flags
    flags += ["--server.enableXsrfProtection", "true", "--server.enableCORS", "true",
              "--server.maxUploadSize", str(config.max_upload_mb),
              "--server.enableAgentApi", "false", "--server.enableStaticServing", "false",
              "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"]
    for host in config.allowed_hosts:
        flags += ["--server.allowedHosts", host]
    if config.tls:
        flags += ["--server.sslCertFile", str(config.tls_cert),
                  "--server.sslKeyFile", str(config.tls_key)]
    return flags


def streamlit_command(options: ServeOptions, config: LabConfig | None) -> list[str]:
    """The whole command line: this Python running ``streamlit run <script> <flags>``."""
    return [sys.executable, "-m", "streamlit", "run", str(options.script),
            *streamlit_flags(options, config)]


def serve(options: ServeOptions) -> None:
    """Check the launch, then replace this process with streamlit (signals go straight to it)."""
    config = check_launch(options)
    env = dict(os.environ)
    env.pop(LAB_ENV, None)
    if options.lab:
        env[LAB_ENV] = "1"
    command = streamlit_command(options, config)
    sys.stdout.flush()
    os.execve(command[0], command, env)
