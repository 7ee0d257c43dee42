"""Distributed search: one chief process serves KerasTuner's oracle, workers run trials.

``run_distributed_search`` is the job registry's search runner for ``search --workers N``: it holds
nothing itself (the registry holds the run's lock and the machine's slot for it), serves the oracle
(:mod:`tuning_core.distributed.chief`), starts N local worker processes (``python -m tuning_core
worker``, :mod:`tuning_core.distributed.worker`), one per visible GPU or per group of CPU cores, and
logs ``search_start`` / ``search_end`` as a plain search does. Workers on other machines that mount
the same workspace join with the same command.

The oracle listens on 127.0.0.1 only, unless lab mode is set up on the workspace and its
admin set ``oracle_public`` in the lab config: KerasTuner's gRPC is unauthenticated.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tuning_core.core.errors import DiskFullError
from tuning_core.core.states import LogEvent, SearchEnd
from tuning_core.distributed.chief import CHIEF_ID, Chief
from tuning_core.runs.locks import LockHolder
from tuning_core.runs.rundir import RunDir

LOOPBACK = "127.0.0.1"
PUBLIC = "0.0.0.0"
WORKER_EXIT_WAIT_S = 30.0


@dataclass(frozen=True)
class DistributedOptions:
    """How to run a distributed search.

    ``workers``: local worker processes to start (0: one per visible GPU, else 1; remote
    workers may join either way); ``local``: False starts none (the search asks agents
    only). ``agents``: workers asked of the lab's agents (0: none, -1: every free slot).
    ``port``: the oracle's port (0: any free one).
    """

    workers: int = 0
    agents: int = 0
    local: bool = True
    port: int = 0
    no_worker_timeout_s: float = 120.0
    stop_timeout_s: float = 120.0
    connect_timeout_s: float = 30.0


@dataclass(frozen=True)
class WorkerInfo:
    """A live worker of a run, as its lock record says."""

    worker: str
    host: str
    pid: int
    device: str
    trial: str  # the trial it runs now ("" between trials)
    heartbeat: float
    started: float

    @property
    def heartbeat_age(self) -> float:
        """Seconds since the worker's last heartbeat."""
        return max(0.0, time.time() - self.heartbeat)


@dataclass(frozen=True)
class LocalWorker:
    """What one local worker process trains on: its id, device label, env and cores."""

    worker: str
    device: str
    env: dict[str, str]
    cpus: tuple[int, ...] = ()


def workers(run: RunDir) -> list[WorkerInfo]:
    """The run's live workers (their locks are held), sorted by id."""
    found = []
    for worker in run.worker_ids():
        holder = run.worker_lock(worker).holder()
        if holder is not None:
            found.append(WorkerInfo(worker, holder.host, holder.pid, holder.device, holder.trial,
                                    holder.heartbeat, holder.started))
    return found


def chief_address(run: RunDir) -> str | None:
    """"host:port" where the run's chief serves its oracle now, or None."""
    record = _read_json(run.chief_path)
    if not record or run.holder() is None:
        return None
    bind = str(record.get("bind"))
    host = record.get("host") if bind == PUBLIC else bind if bind != LOOPBACK else LOOPBACK
    host = f"[{host}]" if ":" in str(host) else host
    return f"{host}:{record.get('port')}"


def worker_command(run: RunDir) -> str:
    """The command that joins a worker to the run's search (from a machine sharing the
    workspace when the oracle is public, else from this one)."""
    address = chief_address(run) or "HOST:PORT"
    return f"python -m tuning_core worker {run.path} --chief {address}"


def oracle_host(workspace: Path | None = None) -> str:
    """Where the chief listens: every interface only when lab mode's admin allows it."""
    from tuning_core.core.workspace import lab_path, workspace_dir
    from tuning_core.lab.config import config_path, load_lab_config

    workspace = workspace or workspace_dir()
    if not lab_path(workspace).is_dir() or not config_path(workspace).is_file():
        return LOOPBACK  # without lab mode the oracle never leaves this machine
    config = load_lab_config(workspace)
    if not config.oracle_public:
        return LOOPBACK
    return config.oracle_address or PUBLIC  # the admin's named interface, else every one


def visible_gpus() -> list[str]:
    """GPU indices this process may use: CUDA_VISIBLE_DEVICES, else what nvidia-smi lists."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]


def plan_local_workers(count: int, gpus: list[str] | None = None,
                       cores: list[int] | None = None) -> list[LocalWorker]:
    """One worker per visible GPU (or ``count``, GPUs shared round-robin), else ``count``
    workers (default 1) over equal groups of this process's CPU cores."""
    gpus = visible_gpus() if gpus is None else gpus
    count = count or len(gpus) or 1
    if gpus:
        # Workers sharing a GPU must not each take all its memory, as TensorFlow does.
        shared = {"TF_FORCE_GPU_ALLOW_GROWTH": "true"} if count > len(gpus) else {}
        return [LocalWorker(f"tuner{i}", f"GPU {gpus[i % len(gpus)]}",
                            {"CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)], **shared})
                for i in range(count)]
    cores = sorted(os.sched_getaffinity(0)) if cores is None else cores
    size = max(1, len(cores) // count)
    plan = []
    for i in range(count):
        group = tuple(cores[(i * size) % len(cores):][:size])
        label = f"CPU {group[0]}" + (f"-{group[-1]}" if len(group) > 1 else "")
        plan.append(LocalWorker(f"tuner{i}", label, {}, group))
    return plan


def start_local_workers(run: RunDir, port: int,
                        options: DistributedOptions) -> list[subprocess.Popen]:
    """Start the local worker processes; each writes its output to worker-<id>.out."""
    procs = []
    for local in plan_local_workers(options.workers):
        command = [sys.executable, "-m", "tuning_core", "worker", str(run.path),
                   "--chief", f"{LOOPBACK}:{port}", "--id", local.worker,
                   "--device", local.device, "--parallel",
                   "--connect-timeout", str(options.connect_timeout_s)]
        if local.cpus:
            command += ["--cpus", ",".join(map(str, local.cpus))]
        with open(run.worker_output_path(local.worker), "ab") as out:
            procs.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL,
                                          env={**os.environ, **local.env}))
    return procs


def end_local_workers(procs: list[subprocess.Popen], wait_s: float = WORKER_EXIT_WAIT_S) -> None:
    """Wait for the workers to exit (they were told to stop); SIGTERM, then SIGKILL."""
    deadline = time.time() + wait_s
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.time()))
    for signal_name in ("terminate", "kill"):
        for proc in procs:
            if proc.poll() is None:
                getattr(proc, signal_name)()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5.0)


def run_distributed_search(run_dir: str | Path, options: DistributedOptions) -> SearchEnd:
    """Serve the run's oracle and run its trials on workers until the search ends.

    The chief runs in the plain search's lifecycle (``search_lifecycle``: the same start and
    end lines, stop control, pruning, and never a raise for a search that went wrong); the
    status is returned. The caller holds the run's lock.
    """
    from tuning_core.search.lifecycle import load_or_make_split, search_lifecycle

    run = RunDir(run_dir)
    local = options.workers if options.local else 0  # as this machine's workers
    with search_lifecycle(run, workers=local, agents=options.agents) as outcome:
        tuner = _chief_tuner(run, len(load_or_make_split(run).classes))
        outcome.project_dir = tuner.project_dir
        config = run.config()
        cap = config.tuner.max_trials if config.tuner.tuner == "hyperband" else None
        chief = Chief(tuner.oracle, run, outcome.control, cap, options.no_worker_timeout_s,
                      options.stop_timeout_s)
        procs: list[subprocess.Popen] = []
        try:
            port = chief.start(oracle_host(), options.port, options.agents)
            run.log_writer().write(LogEvent.CHIEF_START, port=port, host=LockHolder.mine().host)
            procs = start_local_workers(run, port, options) if options.local else []
            outcome.end(*chief.wait(lambda: not procs or any(p.poll() is None for p in procs)))
            if chief.disk_full and outcome.status is SearchEnd.STOPPED:  # a worker's disk
                outcome.disk_full(DiskFullError(chief.disk_full, 0, ""))
        except Exception as error:
            outcome.record(error)
        finally:
            if outcome.status is SearchEnd.FAILED:
                chief.fail(outcome.message or "failed")  # tell workers still asking for trials
            end_local_workers(procs)
            chief.close()
    return outcome.status


def _chief_tuner(run: RunDir, num_classes: int):
    """The run's tuner as the chief holds it: its oracle is the one served (never searched)."""
    from tuning_core.search.lifecycle import build_hypermodel
    from tuning_core.search.tuners import build_tuner

    config = run.config()
    hypermodel = build_hypermodel(config, num_classes)
    with _tuner_id(CHIEF_ID):  # its tuner file is tuner/chief.json, no worker's
        tuner = build_tuner(config.tuner, hypermodel, run)
    tuner.oracle.verbose = 0  # KerasTuner's tables would interleave with the CLI's lines
    tuner.save()
    return tuner


@contextlib.contextmanager
def _tuner_id(value: str) -> Iterator[None]:
    saved = os.environ.get("KERASTUNER_TUNER_ID")
    os.environ["KERASTUNER_TUNER_ID"] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("KERASTUNER_TUNER_ID", None)
        else:
            os.environ["KERASTUNER_TUNER_ID"] = saved


def _read_json(path: Path) -> dict | None:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_configured_search(run_dir: str | Path) -> SearchEnd:
    """The job registry's search: distributed with the run's ``workers`` local worker
    processes and ``agents`` workers of the lab's agents (this thread the chief) when the
    settings ask for either, else the plain
    ``lifecycle.run_search``; a resume from the pages or the queue goes on the way the run
    started. It lives here, above both, so the plain search never imports this module."""
    from tuning_core.search.lifecycle import run_search

    tuner = RunDir(run_dir).config().tuner
    if tuner.workers > 0 or tuner.agents:
        return run_distributed_search(run_dir, DistributedOptions(
            workers=tuner.workers, agents=tuner.agents, local=tuner.workers > 0))
    return run_search(run_dir)
