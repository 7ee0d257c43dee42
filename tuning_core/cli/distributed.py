"""Command line of distributed search: ``search|resume --workers N`` and ``worker``.

``search --workers N`` runs the chief in this process (under the run's lock and the
machine's slot, as any search) and N local workers; ``worker RUN_DIR --chief HOST:PORT``
joins a search from any machine that mounts the same workspace.
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


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``worker`` command."""
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


def search_runner(args: argparse.Namespace):
    """The job registry's search runner for these arguments (None: a plain search)."""
    if getattr(args, "workers", None) is None:
        return None
    from tuning_core.distributed.launch import DistributedOptions, run_distributed_search

    if args.workers < 0 or not 0 <= args.oracle_port < 65536:
        raise SettingsError(f"expected --workers >= 0 and --oracle-port in 0..65535; got "
                            f"{args.workers} and {args.oracle_port}.")
    options = DistributedOptions(workers=args.workers, port=args.oracle_port,
                                 no_worker_timeout_s=args.worker_timeout)
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


COMMANDS = {"worker": cmd_worker}
