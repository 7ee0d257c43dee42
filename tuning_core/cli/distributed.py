"""Command line of distributed search: ``search|resume --workers N --agents N|all``,
``worker`` and ``agent``.

``search --workers N`` runs the chief in this process (under the run's lock and the
machine's slot, as any search) and N local workers; ``--agents`` asks the lab's agents for
workers too (alone: the agents' workers only); ``worker RUN_DIR --chief HOST:PORT`` joins a
search from any machine that mounts the same workspace; ``agent`` offers this machine to
every distributed search that asks, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from tuning_core.core.errors import SettingsError


def add_search_flags(command: argparse.ArgumentParser) -> None:
    """``--workers [N]`` and ``--oracle-port`` for ``search`` and ``resume``."""
    command.add_argument("--workers", type=int, nargs="?", const=0, default=None, metavar="N",
                         help="run trials on N local worker processes while this process "
                              "serves the oracle (no N: one per visible GPU, else 1)")
    command.add_argument("--oracle-port", type=int, default=0,
                         help="the oracle's port for --workers (default: any free port)")
    command.add_argument("--worker-timeout", type=float, default=120.0,
                         help="end the search when no worker is alive this many seconds")
    command.add_argument("--agents", type=_agents_flag, default=None, metavar="N|all",
                         help="ask the lab's agents (python -m tuning_core agent) for N "
                              "workers, or every free slot (all); alone: no local worker")


def parse_agents(value: str) -> int:
    """``--agents``: N (at least 1) or ``all`` (every free slot: AGENTS_ALL)."""
    from tuning_core.runs.schema import AGENTS_ALL

    if value.strip().lower() == "all":
        return AGENTS_ALL
    if not value.strip().isdigit() or int(value) < 1:
        raise SettingsError(f"expected --agents N (1 or more) or all; got {value!r}.")
    return int(value)


def _agents_flag(value: str) -> int:
    """``--agents`` as argparse reads it: a bad value is a usage error, before the data scan."""
    try:
        return parse_agents(value)
    except SettingsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``worker`` and ``agent`` commands."""
    worker = sub.add_parser("worker", help="join a distributed search as a worker")
    worker.add_argument("run_dir")
    worker.add_argument("--chief", required=True, help="HOST:PORT of the search's oracle")
    worker.add_argument("--id", default="", help="worker id (default: <host>-<k>); a worker "
                                                 "restarted with its id reruns its trial")
    worker.add_argument("--device", default="", help="what to show it trains on")
    worker.add_argument("--cpus", default="", help="pin to these cores, say 0,1")
    worker.add_argument("--connect-timeout", type=float, default=30.0,
                        help="seconds to keep trying to reach the chief")
    worker.add_argument("--parallel", action="store_true",
                        help="train even while another job holds this machine's slot")
    agent = sub.add_parser("agent", help="offer this machine's GPUs (or cores) to every "
                                         "distributed search of the workspace, until Ctrl-C")
    agent.add_argument("--workspace", type=Path, default=argparse.SUPPRESS,
                       help="the workspace this machine mounts (as the global --workspace)")
    agent.add_argument("--runs-dir", default="", help="default: the workspace's runs folder")
    agent.add_argument("--gpus", default=None, help="the GPUs to offer, say 0,1 (default: every "
                                                    "visible one; none: the CPU)")
    agent.add_argument("--max-workers", type=int, default=0,
                       help="at most N workers at once (default: one per GPU, else 1)")
    agent.add_argument("--id", default="", help="the agent's name (default: <host>-<pid>)")
    agent.add_argument("--connect-timeout", type=float, default=60.0,
                       help="seconds a worker keeps trying to reach its chief")


def search_runner(args: argparse.Namespace):
    """The job registry's search runner for these arguments (None: a plain search)."""
    agents = getattr(args, "agents", None)
    if getattr(args, "workers", None) is None and agents is None:
        return None
    from tuning_core.distributed.launch import DistributedOptions, run_distributed_search

    workers = 0 if args.workers is None else args.workers
    if workers < 0 or not 0 <= args.oracle_port < 65536:
        raise SettingsError(f"expected --workers >= 0 and --oracle-port in 0..65535; got "
                            f"{workers} and {args.oracle_port}.")
    options = DistributedOptions(workers=workers, port=args.oracle_port,
                                 no_worker_timeout_s=args.worker_timeout,
                                 agents=agents or 0,
                                 local=args.workers is not None)
    return functools.partial(run_distributed_search, options=options)


def cmd_worker(args: argparse.Namespace) -> int:
    from tuning_core.cli.support import Signals, quiet_tensorflow_import
    from tuning_core.distributed.worker import (
        WorkerOptions,
        parse_address,
        run_worker,
        wait_for_chief,
    )
    from tuning_core.runs.rundir import RunDir

    run = RunDir(args.run_dir)
    run.config()
    parse_address(args.chief)
    cpus = tuple(int(c) for c in args.cpus.split(",") if c.strip()) if args.cpus else ()
    options = WorkerOptions(chief=args.chief, worker=args.id, device=args.device, cpus=cpus,
                            connect_timeout_s=args.connect_timeout, use_slot=not args.parallel)
    wait_for_chief(args.chief, args.connect_timeout)  # before TensorFlow's seconds of import
    quiet_tensorflow_import()
    with Signals():
        reason = run_worker(Path(run.path), options)
    print(f"worker ended: {reason}", flush=True)
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    import signal

    from tuning_core.core import workspace
    from tuning_core.distributed.agent import Agent, AgentOptions

    gpus = None if args.gpus is None else tuple(
        g.strip() for g in args.gpus.split(",") if g.strip() and g.strip() != "none")
    if args.max_workers < 0 or (gpus and not all(g.isdigit() for g in gpus)):
        raise SettingsError(f"expected --max-workers >= 0 and --gpus as 0,1 or none; got "
                            f"{args.max_workers} and {args.gpus!r}.")
    options = AgentOptions(workspace=workspace.workspace_dir(),
                           runs_dir=Path(args.runs_dir or workspace.runs_dir()),
                           agent=args.id, gpus=gpus, max_workers=args.max_workers,
                           connect_timeout_s=args.connect_timeout)
    agent = Agent(options)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: agent.stopping.set())
    devices = ", ".join(w.device for w in agent.plan)
    print(f"agent {options.name} offers {len(agent.plan)} slot(s) ({devices}) to the searches "
          f"of {options.runs_dir}; Ctrl-C to stop", flush=True)
    agent.serve()
    print(f"agent {options.name} stopped", flush=True)
    return 0


COMMANDS = {"worker": cmd_worker, "agent": cmd_agent}
