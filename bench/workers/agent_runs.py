"""Figure 16's processes: agents in network namespaces of their own, searches launched from
the chief's namespace, and an agent's link taken down mid-trial.

One :class:`~bench.harness.netns.Lab` of 3 peers serves the whole figure: the agents
(``python -m tuning_core agent --max-workers 1``) start once, one per peer namespace, and
each search asks ``--agents N`` of them, so every search pays the same agent start-up (none)
and the same worker start-up (a fresh worker process per search). The chief's CPU is read
from its own ``/proc/<pid>/stat`` once it has exited but before it is reaped (``waitid`` with
``WNOWAIT``), so nothing of its last second is missed. Every wait is bounded; the agents are
stopped and the namespaces deleted whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness.common import OUT, digits_dir, fresh_dir, median, run_folders
from bench.harness.netns import ROOT, Lab
from bench.workers.agent_stats import agent_of, cpu_seconds, first_all_busy, to_all_training
from bench.workers.events import fault_outcome, read_events, throughput, trial_seconds

SEARCH_TIMEOUT_S = 300.0
POLL_S = 0.1
PEERS = 3


def _env() -> dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")


def _start_agent(lab: Lab, workspace: Path, peer: int, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen([*lab.prefix(lab.peers[peer - 1]), sys.executable, "-m",
                                 "tuning_core", "agent", "--workspace", str(workspace),
                                 "--gpus", "none", "--max-workers", "1", "--id", f"a{peer}"],
                                cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(proc: subprocess.Popen) -> int | None:
    """SIGTERM to the agent (as a service manager stops it: it ends its own workers), then
    its group's leftovers killed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    return proc.returncode


def _wait(check, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(POLL_S)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def _exited(pid: int) -> bool:
    """Whether the child has exited, leaving it unreaped so /proc still shows its times."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None


def _cpu(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        return cpu_seconds(Path(f"/proc/{pid}/stat").read_text())["own"]
    return None


def _busy_agents(run) -> int:
    from tuning_core.distributed.launch import workers

    return len({agent_of(w.worker) for w in workers(run) if w.trial})


class Search:
    """One ``search --agents N`` in the hub namespace, watched until it ends."""

    def __init__(self, lab: Lab, workspace: Path, data: Path, agents: int, s: dict,
                 seed: int, epochs: int | None = None, trials: int | None = None) -> None:
        self.agents, self.trials = agents, trials or s["max_trials"]
        self.runs_dir, self.before = workspace / "runs", set(run_folders(workspace / "runs"))
        self.log = workspace.parent / f"search-{len(self.before)}.log"
        args = [*lab.prefix(lab.hub), sys.executable, "-m", "tuning_core", "--workspace",
                str(workspace), "search", "--data", str(data), "--agents", str(agents),
                "--tuner", "random", "--preset", "small", "--image-size", "16",
                "--max-trials", str(self.trials), "--epochs", str(epochs or s["epochs"]),
                "--seed", str(seed), "--worker-timeout", "120"]
        self.launch = time.time()
        with self.log.open("w") as out:  # ``ip netns exec`` execs: this pid is the chief
            self.proc = subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.samples: list[tuple[float, int]] = []
        self.run, self.startup_cpu = None, None

    def find_run(self):
        from tuning_core.runs.rundir import RunDir

        new = [p for p in run_folders(self.runs_dir) if p not in self.before]
        self.run = RunDir(new[0]) if new else None
        return self.run

    def watch(self, timeout: float = SEARCH_TIMEOUT_S) -> dict[str, Any]:
        """Poll the worker locks until the chief exits; then its CPU, then reap it."""
        deadline = time.time() + timeout
        while not _exited(self.proc.pid):
            if time.time() > deadline:
                raise RuntimeError(f"{self.agents}-agent search still running after "
                                   f"{timeout:.0f} s")
            if self.run or self.find_run():
                self.samples.append((time.time(), _busy_agents(self.run)))
                if self.samples[-1][1] and self.startup_cpu is None:  # the first trial began
                    self.startup_cpu = _cpu(self.proc.pid)
            time.sleep(POLL_S)
        ended = time.time()
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        comm = Path(f"/proc/{self.proc.pid}/comm").read_text().strip()
        code = self.proc.wait(10)
        if code != 0:
            tail = self.log.read_text()[-1500:]
            raise RuntimeError(f"{self.agents}-agent search exited {code}: {tail}")
        return {"cpu": cpu_seconds(stat), "comm": comm, "process_s": ended - self.launch}

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


def one_search(lab: Lab, workspace: Path, data: Path, agents: int, s: dict,
               seed: int) -> dict[str, Any]:
    """A whole ``--agents N`` search: trials per hour, the chief's CPU per trial, and the
    seconds from launch until every agent trained (worker logs; worker locks polled)."""
    search = Search(lab, workspace, data, agents, s, seed)
    try:
        done = search.watch()
    finally:
        search.kill()
    search.find_run()
    events = read_events(search.run.path)
    rate, trials = throughput(events), trial_seconds(events)
    return {"agents": agents, **rate, "process_s": done["process_s"], "chief": done["comm"],
            "chief_cpu_s": done["cpu"]["own"], "chief_children_cpu_s": done["cpu"]["children"],
            "chief_cpu_per_trial": done["cpu"]["own"] / rate["trials"] if rate["trials"] else None,
            "chief_startup_cpu_s": search.startup_cpu,
            "chief_cpu_after_start": _after(done["cpu"]["own"], search.startup_cpu,
                                            rate["trials"]),
            "to_all_s": to_all_training(events, search.launch, agents),
            "to_all_locks_s": first_all_busy(search.samples, search.launch, agents),
            "trial_median_s": median(trials) if trials else None,
            "workers": sorted({str(e.get("worker")) for e in events if e.get("worker")}),
            "load": round(os.getloadavg()[0], 2)}


def _after(total: float, startup: float | None, trials: int) -> float | None:
    """The chief's CPU per trial once the first trial began (its start-up left out)."""
    return (total - startup) / trials if startup is not None and trials else None


def link_cut(lab: Lab, workspace: Path, data: Path, s: dict, seed: int) -> dict[str, Any]:
    """A 2-agent search; once a worker trains, its agent's veth (hub end) goes down until the
    chief logs ``trial_lost`` (bounded), then up again; the search must end every trial once."""
    from tuning_core.distributed.launch import workers
    from tuning_core.distributed.worker import LINK_TIMEOUT_S

    search = Search(lab, workspace, data, 2, s, seed, s["cut_epochs"], s["cut_trials"])
    result: dict[str, Any] = {"problems": [], "link_timeout_s": LINK_TIMEOUT_S}
    try:
        run = _wait(search.find_run, 120, "the run folder")
        busy = _wait(lambda: [w for w in workers(run) if w.trial], 240, "a training worker")[0]
        time.sleep(s["cut_after_s"])  # mid-trial, past the model build
        peer = int(str(agent_of(busy.worker))[1:])
        down = time.time()
        lab.link(peer, up=False)
        try:
            _wait(lambda: [e for e in read_events(run.path) if e["event"] == "trial_lost"],
                  LINK_TIMEOUT_S + 60, "trial_lost")
        finally:
            lab.link(peer, up=True)
        result.update(cut_worker=busy.worker, cut_trial=busy.trial, down_s=time.time() - down)
        search.watch()
    except RuntimeError as error:
        result["problems"].append(str(error))
        return result
    finally:
        search.kill()
    events = read_events(run.path)
    ids = [str(i) for i in range(search.trials)]
    result.update(fault_outcome(events, ids, down, busy.worker, str(busy.trial)),
                  status=run.reader().search_status, trials=search.trials)
    return result


def measure_agents(s: dict, seed: int, root: Path = OUT / "fig16") -> tuple[list[dict], dict]:
    """Every search of the figure and the link cut, inside one lab of 3 agents; ``root``
    (emptied first) holds the workspace and every process's output."""
    from tuning_core.distributed import agent as agents
    from tuning_core.lab.config import LabConfig, save_lab_config

    data, root = digits_dir(), fresh_dir(root)
    workspace = fresh_dir(root / "workspace")
    runs: list[dict] = []
    with Lab(peers=PEERS, tag=f"bf{os.getpid() % 10000}") as lab:
        save_lab_config(LabConfig(oracle_public=True, oracle_address=lab.hub_address(1)),
                        workspace)
        procs = [_start_agent(lab, workspace, i, root / f"agent-{i}.log")
                 for i in range(1, PEERS + 1)]
        try:
            free = lambda: agents.free_slots(workspace) == PEERS  # noqa: E731
            _wait(free, 90, "3 agents announcing a free slot")
            for repeat in range(s["repeats"]):
                for n in s["order"][repeat % 3:] + s["order"][:repeat % 3]:
                    _wait(free, 90, "every agent free again")
                    runs.append({"repeat": repeat + 1,
                                 **one_search(lab, workspace, data, n, s, seed + repeat)})
                    print(f"fig16: repeat {repeat + 1}, {n} agent(s): "
                          f"{runs[-1]['per_hour']:.0f} trials/h", file=sys.stderr, flush=True)
            _wait(free, 90, "every agent free again")
            cut = link_cut(lab, workspace, data, s, seed)
        finally:
            codes = [_stop(proc) for proc in procs]
    cut["agent_exit_codes"] = codes
    return runs, cut
