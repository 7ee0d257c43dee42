"""An agent per lab machine: it offers the machine's slots once, and any distributed search
that asks for workers gets them, as W&B agents or Ray workers do, on KerasTuner's engine.

``python -m tuning_core agent`` runs on a machine that mounts the workspace. Every few
seconds it writes its announcement (``<workspace>/agents/<agent>.json``, atomically: host,
pid, its slots with their device, run, worker and trial, and a heartbeat); readers ignore
one whose heartbeat is stale, so a machine that lost power drops out by itself. A search
asks for agents' workers in its ``chief.json`` (``agents``: N, or -1 for every free slot;
:mod:`tuning_core.distributed.chief` writes it); the agent starts a ``worker`` process for
such a search in each free slot (its own process group, ``CUDA_VISIBLE_DEVICES`` or the
slot's cores), oldest request first. A search that asks for N gets at most N across all
agents: each worker it gets holds one of its N claim locks (``agent-claim-<k>.lock`` in the
run folder) while it lives. Workers end by themselves when their search ends; one whose
search is gone is ended by the agent. On Ctrl-C or SIGTERM the agent ends its workers (the
chief puts their trials back in the retry queue), removes its announcement and returns.

The agent holds this machine's training slot only while one of its workers trains, so the
workspace's queue counts the machine busy then, and free when the agent idles.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tuning_core.core import atomic
from tuning_core.core.errors import LockHeldError
from tuning_core.distributed.launch import LocalWorker, chief_address, plan_local_workers, workers
from tuning_core.runs.locks import FileLock, LockHolder, machine_slot, this_host
from tuning_core.runs.rundir import CHIEF_FILE, RunDir
from tuning_core.runs.schema import AGENTS_ALL

AGENTS = "agents"
VERSION = 1
POLL_S = 2.0  # a pass, and the announcement's heartbeat, this often
STALE_S = 20.0  # an announcement this old is of an agent that is gone
GONE_GRACE_S = 10.0  # a worker's search gone this long: the agent ends it
RETRY_S = 15.0  # after a worker of a run failed, wait this long before another try
MAX_CLAIMS = 256


@dataclass(frozen=True)
class AgentSlot:
    """One place where the agent can run a worker, and what runs there now."""

    slot: int
    device: str
    run: str = ""  # the run folder's path ("" while free)
    worker: str = ""
    trial: str = ""

    @property
    def free(self) -> bool:
        return not self.run


@dataclass(frozen=True)
class Announcement:
    """What an agent says of itself in ``<workspace>/agents/<agent>.json``."""

    agent: str
    host: str
    pid: int
    started: float
    heartbeat: float
    slots: tuple[AgentSlot, ...] = ()
    busy: str = ""  # what else trains on the machine now (its slot's holder): none offered
    version: int = VERSION

    @property
    def free(self) -> int:
        """Its slots with no worker in them (none while another job trains there)."""
        return 0 if self.busy else sum(s.free for s in self.slots)

    def fresh(self, now: float | None = None) -> bool:
        """True while its heartbeat is younger than ``STALE_S``."""
        return (now if now is not None else time.time()) - self.heartbeat < STALE_S

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Announcement:
        slots = tuple(AgentSlot(int(s["slot"]), str(s.get("device", "")), str(s.get("run", "")),
                                str(s.get("worker", "")), str(s.get("trial", "")))
                      for s in data.get("slots", ()))
        return cls(str(data["agent"]), str(data["host"]), int(data["pid"]),
                   float(data["started"]), float(data["heartbeat"]), slots,
                   str(data.get("busy", "")), int(data.get("version", VERSION)))


def agents_dir(workspace: Path) -> Path:
    return Path(workspace) / AGENTS


def live_agents(workspace: Path, now: float | None = None) -> list[Announcement]:
    """The agents of the workspace whose heartbeat is fresh, by host then id (stale or
    unreadable announcements are left out, never an error)."""
    found = []
    for path in sorted(agents_dir(workspace).glob("*.json")):
        try:
            record = Announcement.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if record.fresh(now):
            found.append(record)
    return sorted(found, key=lambda a: (a.host, a.agent))


def free_slots(workspace: Path, now: float | None = None) -> int:
    """How many workers the workspace's live agents could start now."""
    return sum(a.free for a in live_agents(workspace, now))


def slot_rows(workspace: Path, now: float | None = None) -> list[dict[str, str]]:
    """One row per slot of every live agent, for a table: host, agent, device, the run it
    serves ("free" when none) and its worker's current trial."""
    return [{"host": a.host, "agent": a.agent, "device": s.device,
             "run": Path(s.run).name if s.run else f"busy: {a.busy}" if a.busy else "free",
             "trial": s.trial or "–"}
            for a in live_agents(workspace, now) for s in a.slots]


@dataclass(frozen=True)
class WorkRequest:
    """A running distributed search that asks agents for workers."""

    run: RunDir
    address: str  # "host:port" of its oracle
    wanted: int  # N, or AGENTS_ALL
    started: float


def work_requests(runs_dir: Path) -> list[WorkRequest]:
    """The searches under ``runs_dir`` that ask agents for workers now, oldest first: their
    ``chief.json`` says ``agents`` and their chief holds the run's lock."""
    found = []
    for path in Path(runs_dir).glob(f"*/{CHIEF_FILE}"):
        try:
            record = json.loads(path.read_text())
            wanted, started = int(record.get("agents") or 0), float(record.get("started", 0))
        except (OSError, ValueError, TypeError):
            continue
        run = RunDir(path.parent)
        address = chief_address(run) if wanted else None
        if address is not None:
            found.append(WorkRequest(run, address, wanted, started))
    return sorted(found, key=lambda r: (r.started, r.run.name))


@dataclass(frozen=True)
class AgentOptions:
    """Where the agent looks, what it offers and how it names itself."""

    workspace: Path
    runs_dir: Path
    agent: str = ""  # "": <host>-<pid>
    gpus: tuple[str, ...] | None = None  # None: every visible GPU
    max_workers: int = 0  # 0: one per GPU, else 1
    connect_timeout_s: float = 60.0

    @property
    def name(self) -> str:
        return self.agent or f"{this_host()}-{os.getpid()}"


@dataclass
class _Running:
    """A worker process of the agent, in a slot."""

    request: WorkRequest
    worker: str
    proc: subprocess.Popen
    claim: FileLock | None
    gone_since: float | None = None


@dataclass
class Agent:
    """Offers this machine's slots to the workspace's distributed searches; see the module."""

    options: AgentOptions
    plan: list[LocalWorker] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    running: dict[int, _Running] = field(default_factory=dict)
    done: set[tuple[str, float]] = field(default_factory=set)  # (run, chief start) ended
    retry_after: dict[str, float] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)
    busy: str = ""
    _slot: FileLock | None = None

    def __post_init__(self) -> None:
        gpus = None if self.options.gpus is None else list(self.options.gpus)
        self.plan = self.plan or plan_local_workers(self.options.max_workers, gpus)
        # plan_local_workers names them for one search; the agent's ids are its own
        self.plan = [replace(w, worker=f"{self.options.name}-{i}") for i, w in enumerate(self.plan)]

    @property
    def path(self) -> Path:
        return agents_dir(self.options.workspace) / f"{_safe(self.options.name)}.json"

    # --- one pass ------------------------------------------------------------------------
    def step(self, now: float | None = None) -> None:
        """Reap ended workers, end those whose search is gone, start workers for searches
        that ask, and say so in the announcement."""
        now = time.time() if now is None else now
        requests = work_requests(self.options.runs_dir)
        self._reap(now)
        self._end_orphans(requests, now)
        self.busy = self._machine_busy(requests)
        if not self.stopping.is_set() and not self.busy:
            for slot in [i for i in range(len(self.plan)) if i not in self.running]:
                self._fill(slot, requests, now)
        self._hold_slot()
        self.announce(now)

    def _machine_busy(self, requests: list[WorkRequest]) -> str:
        """What holds this machine's training slot, unless an agent or the chief of a search
        it serves (a chief trains nothing): "" when the agent's workers may train here."""
        holder = None if self._slot is not None else machine_slot().holder()
        if holder is None or holder.kind == "agent" or \
                holder.target in {r.run.name for r in requests}:
            return ""
        return " ".join(x for x in (holder.kind, holder.target) if x) or "another job"

    def _reap(self, now: float) -> None:
        for slot, running in list(self.running.items()):
            code = running.proc.poll()
            if code is None:
                continue
            del self.running[slot]
            if running.claim is not None:
                running.claim.release()
            key = (str(running.request.run.path), running.request.started)
            if code == 0:
                self.done.add(key)  # it heard "stopped": no other worker is needed there
            else:
                self.retry_after[str(running.request.run.path)] = now + RETRY_S

    def _end_orphans(self, requests: list[WorkRequest], now: float) -> None:
        live = {(str(r.run.path), r.started) for r in requests}
        for running in self.running.values():
            if (str(running.request.run.path), running.request.started) in live:
                running.gone_since = None
                continue
            running.gone_since = running.gone_since or now
            if now - running.gone_since >= GONE_GRACE_S:
                _signal_group(running.proc, signal.SIGKILL)

    def _fill(self, slot: int, requests: list[WorkRequest], now: float) -> None:
        for request in requests:
            key = str(request.run.path)
            if (key, request.started) in self.done or self.retry_after.get(key, 0.0) > now:
                continue
            claim = None
            if request.wanted != AGENTS_ALL:
                claim = _claim(request, self.options.name)
                if claim is None:
                    continue
            self.running[slot] = self._start(slot, request, claim)
            return

    def _start(self, slot: int, request: WorkRequest, claim: FileLock | None) -> _Running:
        local = self.plan[slot]
        command = [sys.executable, "-m", "tuning_core", "worker", str(request.run.path),
                   "--chief", request.address, "--id", local.worker, "--device",
                   local.device, "--parallel",
                   "--connect-timeout", str(self.options.connect_timeout_s)]
        if local.cpus:
            command += ["--cpus", ",".join(map(str, local.cpus))]
        with open(request.run.worker_output_path(local.worker), "ab") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    env={**os.environ, **local.env})
        return _Running(request, local.worker, proc, claim)

    def _hold_slot(self) -> None:
        """This machine's training slot while a worker of the agent runs (best effort: a
        chief of a search on this machine holds it already, and trains nothing)."""
        if self.running and self._slot is None:
            slot = machine_slot()
            with contextlib.suppress(LockHeldError):
                slot.acquire(LockHolder.mine("agent", target=self.options.name))
                self._slot = slot
        elif not self.running and self._slot is not None:
            self._slot.release()
            self._slot = None

    # --- the announcement ----------------------------------------------------------------
    def announcement(self, now: float) -> Announcement:
        slots = []
        for i, local in enumerate(self.plan):
            running = self.running.get(i)
            if running is None:
                slots.append(AgentSlot(i, local.device))
                continue
            trial = next((w.trial for w in workers(running.request.run)
                          if w.worker == running.worker), "")
            slots.append(AgentSlot(i, local.device, str(running.request.run.path),
                                   running.worker, trial))
        return Announcement(self.options.name, this_host(), os.getpid(), self.started, now,
                            tuple(slots), self.busy)

    def announce(self, now: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_json(self.path, self.announcement(now).to_dict())

    # --- the loop ------------------------------------------------------------------------
    def serve(self) -> None:
        """Run passes until ``stopping`` is set, then end every worker and withdraw."""
        try:
            while not self.stopping.is_set():
                try:
                    self.step()
                except OSError as error:  # the shared disk hiccuped: the next pass retries
                    print(f"agent {self.options.name}: {error}", file=sys.stderr, flush=True)
                self.stopping.wait(POLL_S)
        finally:
            self.close()

    def close(self, wait_s: float = 10.0) -> None:
        """End every worker (their trials go back to the chiefs' retry queues), release
        claims and the slot, and remove the announcement."""
        self.stopping.set()
        for running in self.running.values():
            _signal_group(running.proc, signal.SIGKILL)
        deadline = time.time() + wait_s
        for running in self.running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.proc.wait(max(0.1, deadline - time.time()))
            if running.claim is not None:
                running.claim.release()
        self.running.clear()
        self._hold_slot()
        self.path.unlink(missing_ok=True)


def _claim(request: WorkRequest, agent: str) -> FileLock | None:
    """One of the search's N claims, or None when all N are held (by any agent)."""
    for k in range(min(request.wanted, MAX_CLAIMS)):
        lock = FileLock(request.run.file(f"agent-claim-{k}.lock"),
                        f"claim {k} on run {request.run.name}")
        try:
            lock.acquire(LockHolder.mine("agent", target=agent))
            return lock
        except LockHeldError:
            continue
    return None


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:80] or "agent"
