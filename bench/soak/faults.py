"""The fault soak's injectors: a run's owner processes, and each kind of fault struck at them.

``SoakRun`` holds a soak's state (its private training slot and environment, the random
generator, the deadline, every process started, the problems found), reads the run folder and
its log (through ``RunDir``: its shared, incremental reader), launches, reaps and kills the
processes, and waits for a random moment of training.
``FaultInjector`` adds ``inject`` and one method per fault kind in ``driver.KINDS``:
a stop file, SIGINT, SIGTERM, a double SIGINT, kill -9 in start-up or training, and a second
writer that must be refused.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness.common import run_folders
from bench.soak.procs import POLL_S, ROOT, FaultRecord, Proc
from tuning_core.runs.rundir import RunDir

EXIT_WAIT_S = 120.0  # a stopped or killed search must be gone within this
START_WAIT_S = 180.0  # a process's TensorFlow start-up on a loaded machine
# The second writer: TensorFlow imported first, so its lock attempt lands at a moment we pick.
INTRUDER = ("import sys\nfrom tuning_core.cli.main import main\n"
            "from tuning_core.cli.support import quiet_tensorflow_import\n"
            "quiet_tensorflow_import()\n"
            "print('ready', flush=True)\nsys.stdin.readline()\nsys.exit(main(sys.argv[1:]))\n")


class SoakRun:
    """A soak's state, its run folder and log, its processes, and moments to strike at."""

    def __init__(self, data_dir: Path, work_dir: Path, seed: int, max_trials: int, epochs: int,
                 time_limit_s: float) -> None:
        self.data_dir, work = Path(data_dir).resolve(), Path(work_dir).resolve()
        self.runs_dir = work / "runs"
        slot = work / "slot"  # a private training slot: nothing else here can block the soak
        slot.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, TUNING_SLOT_DIR=str(slot), TF_CPP_MIN_LOG_LEVEL="3",
                        PYTHONWARNINGS="ignore", KERAS_BACKEND="tensorflow", PYTHONPATH=str(ROOT))
        self.rng = random.Random(seed)
        self.seed, self.max_trials, self.epochs = seed, max_trials, epochs
        self.deadline = time.time() + time_limit_s
        self.procs: list[Proc] = []
        self.owners: list[Proc] = []
        self.owner: Proc | None = None
        self.problems: list[str] = []
        self.missed = 0

    def left(self) -> float:
        return max(0.0, self.deadline - time.time())

    # --- the run folder and its log ---
    def run(self) -> Path | None:
        runs = run_folders(self.runs_dir)
        if len(runs) > 1 and not any("run folders" in p for p in self.problems):
            self.problems.append(f"{len(runs)} run folders for one search: {runs}")
        return runs[0] if runs else None

    def events(self) -> list[dict[str, Any]]:
        run = self.run()
        return RunDir(run).reader().events() if run else []

    def search_starts(self) -> int:
        return sum(1 for e in self.events() if e.get("event") == "search_start")

    def last_end(self) -> str | None:
        """The latest search's end status; "running" for a start without end, None if none."""
        status = None
        for e in self.events():
            if e.get("event") == "search_start":
                status = "running"
            elif e.get("event") == "search_end":
                status = str(e.get("status"))
        return status

    def finished(self) -> bool:
        return self.last_end() == "finished"

    # --- processes ---
    def spawn(self, args: list[str], role: str, stdin: bool = False) -> Proc:
        proc = Proc([sys.executable, *args], self.env, role, stdin)
        self.procs.append(proc)
        return proc

    def launch_owner(self) -> Proc:
        run = self.run()
        args = ["-m", "tuning_core", "resume", str(run)] if run else [
            "-m", "tuning_core", "search", "--data", str(self.data_dir), "--runs-dir",
            str(self.runs_dir), "--tuner", "random", "--preset", "small", "--image-size", "16",
            "--max-trials", str(self.max_trials), "--epochs", str(self.epochs),
            "--seed", str(self.seed)]
        self.owner = self.spawn(args, "owner")
        self.owners.append(self.owner)
        return self.owner

    def ensure_owner(self) -> Proc:
        return self.owner if self.owner is not None and self.owner.alive else self.launch_owner()

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.alive:
                proc.kill()

    def reap(self, proc: Proc, rec: FaultRecord | None = None, limit: float = EXIT_WAIT_S) -> int:
        """Wait for ``proc`` to end (bounded); a process that will not end is a hang."""
        limit = min(limit, self.left() + 30)
        code = proc.wait(limit)
        if code is None:
            self.problems.append(f"{proc.role} pid {proc.pid} still ran {limit:.0f} s after "
                                 f"{rec.kind if rec else 'its start'} (a hang); killed")
            proc.kill()
            code = proc.popen.returncode
        if rec is not None:
            rec.outcome = f"exit {code}"
        return code

    # --- moments ---
    def sleep(self, proc: Proc, seconds: float) -> bool:
        """Sleep while ``proc`` lives; True when it is still alive afterwards."""
        until = time.time() + seconds
        while proc.alive and time.time() < until:
            time.sleep(min(POLL_S, max(0.0, until - time.time())))
        return proc.alive

    def training_moment(self, owner: Proc) -> str:
        """Wait for a random moment of the owner's search; "" when it ended first."""
        if not owner.wait_said("search started", min(START_WAIT_S, self.left() + 30)):
            return ""
        if self.rng.random() < 0.5:
            delay = self.rng.uniform(0.3, 2.5)
            return f"{delay:.2f} s into its search" if self.sleep(owner, delay) else ""
        epoch = self.rng.randrange(max(1, self.epochs - 1))
        if not self.await_epoch(owner, epoch):
            return ""
        delay = self.rng.uniform(0.0, 0.15)
        return f"{delay:.2f} s after an epoch {epoch + 1} ended" if self.sleep(owner, delay) else ""

    def await_epoch(self, owner: Proc, epoch: int) -> bool:
        reader = RunDir(self.run()).reader()
        seen = len(reader.events())  # only an epoch logged from now on counts
        deadline = time.time() + min(START_WAIT_S, self.left() + 30)
        while owner.alive and time.time() < deadline:
            reader.poll()
            events = reader.events()
            if any(e.get("event") == "epoch_end" and e.get("epoch") == epoch
                   for e in events[seen:]):
                return True
            seen = len(events)
            time.sleep(POLL_S)
        if owner.alive:
            self.problems.append(f"no epoch {epoch + 1} ended in {START_WAIT_S:.0f} s (a hang?)")
        return False


class FaultInjector(SoakRun):
    """Strikes one fault of a given kind at the run and records what followed."""

    def inject(self, kind: str) -> FaultRecord:
        rec = FaultRecord(kind)
        getattr(self, "_" + kind)(rec)
        rec.starts_after, rec.at = self.search_starts(), time.time()
        if rec.injected and not rec.expected:
            self.problems.append(f"{kind} {rec.moment}: unexpected {rec.outcome}")
        return rec

    def _stop_file(self, rec: FaultRecord) -> None:
        owner = self.ensure_owner()
        rec.moment = self.training_moment(owner)
        if rec.moment and RunDir(self.run()).request_stop():
            self._expect_stop(owner, rec)

    def _sigint(self, rec: FaultRecord) -> None:
        self._polite(rec, signal.SIGINT)

    def _sigterm(self, rec: FaultRecord) -> None:
        self._polite(rec, signal.SIGTERM)

    def _polite(self, rec: FaultRecord, sig: int) -> None:
        owner = self.ensure_owner()
        rec.moment = self.training_moment(owner)
        if rec.moment:
            owner.signal(sig)
            self._expect_stop(owner, rec)

    def _expect_stop(self, owner: Proc, rec: FaultRecord) -> None:
        """The trial ends at its next batch, the log says stopped, exit 0."""
        rec.injected = True
        code = self.reap(owner, rec)
        end = self.last_end()
        rec.outcome += f", search {end}"
        rec.expected = end in ("stopped", "finished") and (code == 0 or end == "finished")

    def _double_sigint(self, rec: FaultRecord) -> None:
        owner = self.ensure_owner()
        rec.moment = self.training_moment(owner)
        if not rec.moment:
            return
        gap = self.rng.uniform(0.005, 0.08)
        owner.signal(signal.SIGINT)
        time.sleep(gap)
        owner.signal(signal.SIGINT)
        rec.injected, rec.moment = True, f"{rec.moment}, second {gap:.3f} s later"
        code = self.reap(owner, rec)
        end = self.last_end()
        rec.outcome += f", search {end}"
        # 130: aborted. When the stop ended the search within the gap, the second Ctrl-C may
        # find the default handler back (exit -2): the log is complete either way.
        rec.expected = code == 130 or (code in (0, -signal.SIGINT)
                                       and end in ("stopped", "finished"))

    def _kill9_startup(self, rec: FaultRecord) -> None:
        if self.owner is not None and self.owner.alive:
            owner, rec.moment = self.owner, "while training (its start-up was over)"
        else:
            owner = self.launch_owner()
            delay = self.rng.uniform(0.1, 4.0)
            self.sleep(owner, delay)
            phase = "after 'search started'" if owner.said("search started") else "in start-up"
            rec.moment = f"{delay:.2f} s after launch, {phase}"
        self._kill9(owner, rec)

    def _kill9_training(self, rec: FaultRecord) -> None:
        owner = self.ensure_owner()
        rec.moment = self.training_moment(owner)
        if rec.moment:
            self._kill9(owner, rec)

    def _kill9(self, owner: Proc, rec: FaultRecord) -> None:
        if not owner.alive:
            return
        owner.signal(signal.SIGKILL)
        rec.injected = True
        rec.expected = self.reap(owner, rec) == -signal.SIGKILL

    def _second_writer(self, rec: FaultRecord) -> None:
        run = self.run()
        intruder = self._intruder(run) if run and not (self.owner and self.owner.alive) else None
        owner = self.ensure_owner()
        try:
            if intruder is None:  # no run yet, or an owner already up: warm up beside it
                if not owner.wait_said("search started", min(START_WAIT_S, self.left() + 30)):
                    return
                intruder = self._intruder(self.run())
            if not intruder.wait_said("ready", min(START_WAIT_S, self.left() + 30)):
                self.problems.append(f"the second writer never got ready: {intruder.stderr_tail()}")
                return
            rec.moment = self.training_moment(owner)
            if rec.moment and owner.alive:
                intruder.tell("go")
                self._judge(intruder, owner, rec)
        finally:
            if intruder is not None and intruder.alive:
                intruder.kill()

    def _intruder(self, run: Path) -> Proc:
        parallel = ["--parallel"] if self.rng.random() < 0.5 else []
        proc = self.spawn(["-c", INTRUDER, "resume", str(run), *parallel], "second writer",
                          stdin=True)
        proc.role += " --parallel" if parallel else ""
        return proc

    def _judge(self, intruder: Proc, owner: Proc, rec: FaultRecord) -> None:
        """Refused (exit 2 naming the owner) or let in (it started while the owner trained)."""
        rec.injected, rec.moment = True, f"{rec.moment} ({intruder.role})"
        deadline = time.time() + min(EXIT_WAIT_S, self.left() + 30)
        while intruder.alive and not intruder.said("search started") and time.time() < deadline:
            time.sleep(POLL_S)
        if intruder.said("search started"):
            rec.let_in, rec.expected = owner.alive, False
            rec.outcome = "let in while the owner trained" if owner.alive else \
                "let in after the owner ended (inconclusive)"
            intruder.kill()
            return
        code = self.reap(intruder, rec)
        message = " ".join(intruder.err)
        rec.refused = code == 2 and "is held by" in message
        rec.expected = code == 2 and f"Run {self.run().name} is held by pid {owner.pid} " in message
        if not owner.alive and not rec.refused:
            rec.injected = False  # the owner ended first: the attempt proved nothing
        rec.outcome += f": {intruder.stderr_tail()[:160]}"
