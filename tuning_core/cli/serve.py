"""The launcher behind ``make run``, ``make lab`` and ``tuning-dashboard [serve]``: checks, then
hands over to streamlit.

Every way of starting the dashboard ends in ``streamlit run app.py``: ``app.py`` defines the
server (``pages/common/server.py``: the live feed, the queue's dispatcher, lab mode's login gate)
as well as the router, so a user's own ``streamlit run app.py`` gets the same dashboard. The
checks here run again inside that server (:func:`check_launch`), for starts that skip this
launcher. Local mode listens on a loopback address only, with no login. Lab mode puts the pages
behind the login gate and refuses to start without an admin account. Listening on any other
address without lab mode is refused, so the dashboard is never on the network without logins.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from tuning_core.core.errors import LabConfigError
from tuning_core.core.install import app_dir, command_name, is_checkout
from tuning_core.core.workspace import ENV_VAR
from tuning_core.lab.accounts import user_store
from tuning_core.lab.config import LAB_ENV, LabConfig, load_lab_config
from tuning_core.lab.files import lab_dir
from tuning_core.lab.sessions import load_secret

# Read by streamlit before it imports app.py (uvicorn binds first): a start that differs here
# cannot be corrected from inside the server, only refused.
BIND_OPTIONS = ("server.sslCertFile", "server.sslKeyFile")


@dataclass(frozen=True)
class ServeOptions:
    """Where to listen, in which mode, over which workspace (None: the default one)."""

    address: str = "127.0.0.1"
    port: int = 8501
    lab: bool = False
    workspace: Path | None = None

    @property
    def script(self) -> Path:
        """The script streamlit runs: the router, which also defines the server around it."""
        return app_dir() / "app.py"


def is_loopback(address: str) -> bool:
    """True for ``localhost`` and loopback IPs (127.0.0.0/8, ::1); False for anything else."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def add_admin_command() -> str:
    """The command that adds the first admin, as a user types it here."""
    return f"{command_name()} user add NAME --role admin"


def lab_command(address: str) -> str:
    """The command that serves lab mode on ``address``, as a user types it here."""
    if is_checkout():
        return f"make lab ADDRESS={address}"
    return f"{command_name()} serve --lab --address {address}"


def check_launch(options: ServeOptions, workspace: Path | None = None) -> LabConfig | None:
    """The lab config to serve with (None in local mode); LabConfigError when refused."""
    if not options.lab:
        if not is_loopback(options.address):
            shown = options.address or "every interface"
            raise LabConfigError(
                f"refusing to listen on {shown} without logins; for the lab network add an "
                f"admin ({add_admin_command()}) and run "
                f"`{lab_command(options.address or '0.0.0.0')}`.")
        return None
    config = load_lab_config(workspace)
    store = user_store(workspace)
    if not store.has_admin():
        raise LabConfigError(f"lab mode needs an admin and {store.path} has none; "
                             f"add the first one with: {add_admin_command()}")
    load_secret(lab_dir(workspace))  # made now, so the first two requests never race for it
    return config


def lab_options(config: LabConfig) -> dict[str, Any]:
    """The streamlit settings lab mode pins, whatever a config file or a flag says."""
    options: dict[str, Any] = {
        "server.enableXsrfProtection": True, "server.enableCORS": True,
        "server.maxUploadSize": config.max_upload_mb, "server.enableAgentApi": False,
        "server.enableStaticServing": False, "server.fileWatcherType": "none",
        "client.toolbarMode": "viewer"}
    if config.allowed_hosts:
        options["server.allowedHosts"] = list(config.allowed_hosts)
    if config.tls:
        options["server.sslCertFile"] = str(config.tls_cert)
        options["server.sslKeyFile"] = str(config.tls_key)
    return options


def _flag_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def streamlit_flags(options: ServeOptions, config: LabConfig | None) -> list[str]:
    """The ``streamlit run`` flags of a launch (security settings pinned in lab mode)."""
    flags = ["--server.address", options.address, "--server.port", str(options.port)]
    for key, value in (lab_options(config) if config is not None else {}).items():
        for one in value if isinstance(value, list) else [value]:
            flags += [f"--{key}", _flag_value(one)]
    return flags


def streamlit_command(options: ServeOptions, config: LabConfig | None) -> list[str]:
    """The whole command line: this Python running ``streamlit run <script> <flags>``."""
    return [sys.executable, "-m", "streamlit", "run", str(options.script),
            *streamlit_flags(options, config)]


def launch_env(options: ServeOptions) -> dict[str, str]:
    """The server's environment: lab mode and the workspace said explicitly."""
    env = dict(os.environ)
    env.pop(LAB_ENV, None)
    if options.lab:
        env[LAB_ENV] = "1"
    if options.workspace is not None:
        env[ENV_VAR] = str(Path(options.workspace).expanduser().resolve())
    return env


def serve(options: ServeOptions) -> None:
    """Check the launch, then replace this process with streamlit (signals go straight to it)."""
    config = check_launch(options, options.workspace)
    command = streamlit_command(options, config)
    sys.stdout.flush()
    os.execve(command[0], command, launch_env(options))


@dataclass(frozen=True)
class ServerArgs:
    """What a start says beyond streamlit's own flags: the script's arguments after ``--``
    (``streamlit run app.py -- --lab --workspace DIR``) and the launcher's environment."""

    lab: bool = False
    workspace: Path | None = None

    @classmethod
    def parse(cls, argv: Sequence[str], env: dict[str, str] | None = None) -> ServerArgs:
        """From ``sys.argv[1:]`` of the server and its environment; SystemExit(2) when bad."""
        env = dict(os.environ) if env is None else env
        parser = _Parser(prog="streamlit run app.py --", add_help=False)
        parser.add_argument("--lab", action="store_true")
        parser.add_argument("--workspace", type=Path)
        args = parser.parse_args(list(argv))
        return cls(lab=args.lab or env.get(LAB_ENV) == "1",
                   workspace=args.workspace.expanduser().resolve() if args.workspace else None)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, as for every bad start
        refuse(f"{message}; the dashboard takes --lab and --workspace DIR after `--`")


def refuse(message: str) -> NoReturn:
    """End the start with one line on stderr and exit code 2."""
    sys.stderr.write(f"tuning dashboard: {' '.join(message.split())}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def welcome_line(address: str, port: int, tls: bool, lab: bool) -> str:
    """What a server prints once its checks passed: where to open it, mode, workspace."""
    from tuning_core.core.workspace import workspace_dir

    host = socket.gethostname() if address in ("0.0.0.0", "::") else address
    host = f"[{host}]" if ":" in host else host
    mode = "lab mode, behind logins" if lab else "local mode"
    return (f"Tuning dashboard on {'https' if tls else 'http'}://{host}:{port} "
            f"({mode}; workspace {workspace_dir()})")
