"""The server around the pages, the same for every way of starting the dashboard.

``streamlit run app.py`` (with any flags), ``streamlit run serve_app.py``, ``make run``, ``make
lab``, ``python -m tuning_core serve`` and the installed ``tuning-dashboard`` all end here:
streamlit finds the ``App`` that ``app.py`` (or ``serve_app.py``) builds from :func:`app_parts`
and serves it with uvicorn. So every start has:

* the live feed (``/_live/...``, ``labweb/live.py``) that watching pages poll;
* the job queue's dispatcher from server start (a job queued before a restart starts with no
  page open), and what a server's first page would pay paid in the background (:func:`warm_up`);
* Arrow's memory (pandas' string columns) on the C heap, which ``memory.give_back`` can return;
* a clean stop of the training job at SIGTERM or Ctrl-C: uvicorn re-raises the signal with the
  default handler after its shutdown, so the lifespan's end is the jobs' last moment to write
  their ``trial_end`` and ``search_end``;
* in lab mode (``--lab`` after ``--``, or ``TUNING_LAB_MODE=1`` as the launcher sets it) the
  login gate in front of every HTTP request and websocket handshake, and lab mode's security
  settings pinned whatever a config file or flag says;
* the router owning every URL from the first request on: Streamlit 1.67 routes by the old
  ``pages/`` folder convention until some session has called ``st.navigation`` (the first
  visitor of ``/monitor?run=...`` after a restart would run ``pages/monitor.py`` without
  ``app.py``); the flag set here is what ``st.navigation`` itself sets.

A start that cannot be served safely or whole (the network without lab mode, lab mode without an
admin, TLS asked for but not given to streamlit, a path prefix the live feed would not follow)
ends with one line naming the command that works.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.middleware import Middleware
from streamlit import config
from streamlit.runtime.pages_manager import PagesManager
from streamlit.starlette import App

from labweb.live import live_routes
from tuning_core.analysis.importance import preload
from tuning_core.cli.serve import (
    BIND_OPTIONS,
    ServeOptions,
    ServerArgs,
    check_launch,
    lab_options,
    refuse,
    welcome_line,
)
from tuning_core.core import memory, workspace
from tuning_core.core.errors import TuningError
from tuning_core.core.install import command_name
from tuning_core.jobs.dispatcher import queued_registry
from tuning_core.jobs.registry import shutdown_all
from tuning_core.lab.config import LAB_ENV, LabConfig

PINNED_BY = "lab mode (tuning dashboard)"


def app_parts(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``routes``, ``middleware`` and ``lifespan`` for ``streamlit.starlette.App``, after the
    checks of :func:`prepare`."""
    lab = prepare(ServerArgs.parse(sys.argv[1:] if argv is None else argv))
    PagesManager.uses_pages_directory = False
    if lab is None:
        return {"routes": live_routes(lab_mode=False), "lifespan": stop_jobs_at_shutdown}
    from labweb import LabContext, LabGate, lab_routes

    context = LabContext.from_workspace()
    return {"routes": lab_routes(context) + live_routes(lab_mode=True),
            "middleware": [Middleware(LabGate, lab=context)],
            "lifespan": stop_jobs_at_shutdown}


def prepare(args: ServerArgs) -> LabConfig | None:
    """Set the process's workspace and mode, check the start as the launcher does, and pin lab
    mode's settings; the lab config in lab mode, None in local mode (refuses with one line)."""
    if args.workspace is not None:
        os.environ[workspace.ENV_VAR] = str(args.workspace)
    if args.lab:
        os.environ[LAB_ENV] = "1"
    else:
        os.environ.pop(LAB_ENV, None)
    if (config.get_option("server.baseUrlPath") or "").strip("/"):
        refuse("a path prefix (server.baseUrlPath) is not supported: the live feed and the lab "
               "login answer at the root of the server; serve the dashboard at the root of a "
               f"host name or port (`{command_name()} serve --port P`)")
    options = ServeOptions(address=config.get_option("server.address") or "",
                           port=config.get_option("server.port"), lab=args.lab)
    try:
        lab_config = check_launch(options)
    except TuningError as error:
        refuse(str(error))
    if lab_config is None:
        return None
    for key, value in lab_options(lab_config).items():
        if key in BIND_OPTIONS and config.get_option(key) != value:
            refuse(f"lab mode serves HTTPS with {value}, which streamlit was not given; "
                   f"start it with `{command_name()} serve --lab`")
        config.set_option(key, value, PINNED_BY)
    return lab_config


def welcome() -> str:
    """The line a start prints once its checks passed (``serve.welcome_line``)."""
    return welcome_line(config.get_option("server.address") or "0.0.0.0",
                        config.get_option("server.port"),
                        tls=bool(config.get_option("server.sslCertFile")),
                        lab=os.environ.get(LAB_ENV) == "1")


def warm_up() -> None:
    """Pay at start what a server's first page would: scikit-learn's import (about 1 s of CPU,
    ``importance.preload``), and Streamlit's check at a process's first element that it is
    not run from a REPL, which reads the source of every frame on the stack
    (``inspect.stack()``: 36 ms of the first Monitor's script on a fresh server here)."""
    preload()
    with contextlib.suppress(Exception):  # Streamlit 1.67's private helper: if gone, no harm
        from streamlit import delta_generator

        delta_generator._maybe_print_use_warning()


@contextlib.asynccontextmanager
async def stop_jobs_at_shutdown(_app: App) -> AsyncIterator[None]:
    """Serve; at shutdown, stop this process's job at its next batch and let it log its end.
    At start, Arrow's memory moves to the C heap (``memory.arrow_on_the_c_heap``), the job
    queue's dispatcher starts and :func:`warm_up` runs in the background."""
    memory.arrow_on_the_c_heap()
    queued_registry(workspace.runs_dir())
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    print(welcome(), flush=True)
    yield
    await asyncio.to_thread(shutdown_all)
