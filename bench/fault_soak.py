"""Fault-injection soak: drive a small search through random faults, resuming after each.

Faults (``KINDS``): a stop-request file, Ctrl-C (SIGINT), SIGTERM, a double SIGINT (abort),
kill -9 during start-up or mid-trial, and a second process resuming the run while it trains
(it must be refused). Every process is a real ``python -m tuning_core`` on this machine, in
a session of its own (so a whole process group is signalled, and killed at the end whatever
happened); every wait is bounded. Then the run is resumed until its log says finished, its
best trial retrained, and the log checked line by line and against KerasTuner's records.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("stop_file", "sigint", "sigterm", "double_sigint", "kill9_startup", "kill9_training",
         "second_writer")
EXIT_WAIT_S = 120.0  # a stopped or killed search must be gone within this
START_WAIT_S = 180.0  # a process's TensorFlow start-up on a loaded machine
POLL_S = 0.05
FINISH_TRIES = 6
# The second writer: TensorFlow imported first, so its lock attempt lands at a moment we pick.
INTRUDER = ("import sys\nfrom tuning_core import cli\ncli._quiet_tensorflow_import()\n"
            "print('ready', flush=True)\nsys.stdin.readline()\nsys.exit(cli.main(sys.argv[1:]))\n")


@dataclass
class SoakResult:
    """What a soak did to a run and what the run looked like afterwards."""

    faults_injected: dict[str, int]
    faults_survived: dict[str, int]  # the run went on after the fault (resumed, or untouched)
    trials_lost: int  # completed in KerasTuner but not in the log, or the other way round
    duplicates: int  # a trial ended twice in the log, or ran again after it ended
    double_writers_let_in: int
    refused_second_writers: int
    wall_s: float
    max_trials: int
    completed: int  # distinct trials the log says ended
    retrained: bool
    problems: list[str]
    faults: list[dict[str, Any]] = field(default_factory=list)
    launches: int = 0

    @property
    def injected(self) -> int:
        return sum(self.faults_injected.values())

    @property
    def survived(self) -> int:
        return sum(self.faults_survived.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- the log audit (pure: unit-tested on hand-written logs) -----------------------------
@dataclass
class Segment:
    """The lines from one ``search_start`` to its ``search_end`` (None: never ended)."""

    started: float
    end: str | None = None
    trials: int = 0
    last_time: float = 0.0


@dataclass
class LogAudit:
    """What one pass over a trial log found."""

    segments: list[Segment] = field(default_factory=list)
    ends: dict[str, list[str]] = field(default_factory=dict)  # trial id -> its trial_end statuses
    bad_lines: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    writer_signs: dict[int, list[str]] = field(default_factory=dict)  # segment -> evidence

    def ended_ids(self, statuses: Iterable[str] = ("completed", "stopped", "failed")) -> set[str]:
        wanted = set(statuses)
        return {t for t, s in self.ends.items() if s and s[0] in wanted}


class _Walk:
    def __init__(self) -> None:
        self.audit = LogAudit()
        self.running: str | None = None
        self.started: set[str] = set()
        self.open = False

    def sign(self, text: str) -> None:
        key = len(self.audit.segments) - 1 if self.open else -1 - len(self.audit.segments)
        self.audit.writer_signs.setdefault(key, []).append(text)

    def feed(self, event: dict[str, Any], n: int) -> None:
        kind, trial = event.get("event"), str(event.get("trial_id"))
        if self.open:
            self.audit.segments[-1].last_time = float(event.get("time") or 0.0)
        if kind == "search_start":
            self.audit.segments.append(Segment(float(event.get("time") or 0.0)))
            self.running, self.started, self.open = None, set(), True
        elif kind == "search_end":
            if not self.open:
                self.sign(f"line {n}: search_end without a search_start")
            else:
                self.audit.segments[-1].end = str(event.get("status"))
            self.running, self.open = None, False
        elif kind == "trial_start":
            self.trial_start(trial, n)
        elif kind == "epoch_end" and (not self.open or trial != self.running):
            self.sign(f"line {n}: epoch of trial {trial} while trial {self.running} ran")
        elif kind == "trial_end":
            self.trial_end(trial, event, n)

    def trial_start(self, trial: str, n: int) -> None:
        if not self.open:
            self.sign(f"line {n}: trial {trial} started outside a search")
        elif self.running not in (None, trial):
            self.sign(f"line {n}: trial {trial} started while trial {self.running} ran")
        elif trial in self.started:
            self.sign(f"line {n}: trial {trial} started twice in one search")
        if trial in self.audit.ends:
            self.audit.duplicates.append(f"line {n}: trial {trial} ran again after it ended")
        self.running = trial
        self.started.add(trial)
        if self.open:
            self.audit.segments[-1].trials += 1

    def trial_end(self, trial: str, event: dict[str, Any], n: int) -> None:
        if not event.get("recovered") and (not self.open or trial != self.running):
            self.sign(f"line {n}: trial {trial} ended while trial {self.running} ran")
        if trial in self.audit.ends:
            self.audit.duplicates.append(f"line {n}: trial {trial} ended again")
        self.audit.ends.setdefault(trial, []).append(str(event.get("status")))
        if self.running == trial:
            self.running = None


def audit_log(lines: Iterable[str]) -> LogAudit:
    """Walk a trial log: damaged lines, duplicate trials, and signs of two writers at once.

    One writer's log is a sequence of searches, each running one trial at a time; a
    trial or epoch line out of that order, or a trial started twice within one search,
    means two processes wrote at once (a retried trial follows a new ``search_start``).
    """
    walk = _Walk()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict) or "event" not in event:
            walk.audit.bad_lines.append(f"line {n}: {line[:80]!r}")
            continue
        walk.feed(event, n)
    return walk.audit


def kerastuner_trials(project: Path) -> dict[str, str]:
    """Trial id -> status as KerasTuner's ``trial_*/trial.json`` records say."""
    found = {}
    for path in sorted(project.glob("trial_*/trial.json")):
        try:
            record = json.loads(path.read_text())
            found[str(record["trial_id"])] = str(record.get("status"))
        except (OSError, ValueError, KeyError):
            found[path.parent.name] = "unreadable"
    return found


# --- processes ------------------------------------------------------------------------
class Proc:
    """A child in its own session; its output lines are gathered by two threads."""

    def __init__(self, args: list[str], env: dict[str, str], role: str, stdin: bool = False):
        self.role, self.started, self.ended = role, time.time(), None
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._pumps = [threading.Thread(target=_pump, args=(s, lines), daemon=True)
                       for s, lines in ((self.popen.stdout, self.out),
                                        (self.popen.stderr, self.err))]
        for pump in self._pumps:
            pump.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def said(self, prefix: str) -> bool:
        return any(line.startswith(prefix) for line in list(self.out))

    def wait_said(self, prefix: str, timeout: float) -> bool:
        """True once a stdout line starts with ``prefix``; False if it died or time ran out."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.said(prefix):
                return True
            if not self.alive:
                self._drain()
                return self.said(prefix)
            time.sleep(POLL_S)
        return False

    def signal(self, sig: int) -> None:
        if self.popen.returncode is None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None when it is still running after ``timeout`` seconds."""
        try:
            code = self.popen.wait(max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return None
        self.ended = self.ended or time.time()
        self._drain()
        return code

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait(10)

    def tell(self, line: str) -> None:
        try:
            self.popen.stdin.write(line + "\n")
            self.popen.stdin.flush()
        except (OSError, ValueError):
            pass

    def stderr_tail(self) -> str:
        return " / ".join(line for line in self.err[-3:] if line.strip())

    def _drain(self) -> None:
        for pump in self._pumps:
            pump.join(2.0)


def _pump(stream: Any, lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


def schedule(kinds: Sequence[str], faults: int, rng: random.Random) -> list[str]:
    """``faults`` kinds, each kind once per shuffled round, ordered so each can be injected.

    A second writer needs a run already made and a fresh owner (never first, never twice in
    a row); the owner it leaves running cannot be killed during its start-up.
    """
    plan: list[str] = []
    bag: list[str] = []
    while len(plan) < faults:
        if not bag:
            bag = list(kinds)
            rng.shuffle(bag)
        prev = plan[-1] if plan else None
        allowed = [k for k in bag if not (k == "second_writer" and prev in (None, "second_writer"))
                   and not (prev == "second_writer" and k == "kill9_startup")]
        pick = (allowed or bag)[0]  # only when nothing else is left: the injector copes
        plan.append(pick)
        bag.remove(pick)
    return plan


# --- the soak -------------------------------------------------------------------------
@dataclass
class FaultRecord:
    """One fault: when it struck, what the process did, and the log's state afterwards."""

    kind: str
    moment: str = ""
    injected: bool = False
    outcome: str = ""
    expected: bool = True  # the process reacted as the engine promises
    refused: bool = False  # second writer: exit 2, "Run ... is held by pid <owner>"
    let_in: bool = False  # second writer: it started searching while the owner trained
    starts_after: int = 0  # search_start lines once the fault was over
    at: float = 0.0


def _read_from(log: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    try:
        with open(log, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n") + 1
    events = []
    for line in chunk[:end].splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass  # the audit reports damaged lines
    return events, offset + end


class _Soak:
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
        runs = sorted(p.parent for p in self.runs_dir.glob("*/run.json"))
        if len(runs) > 1 and not any("run folders" in p for p in self.problems):
            self.problems.append(f"{len(runs)} run folders for one search: {runs}")
        return runs[0] if runs else None

    def events(self) -> list[dict[str, Any]]:
        run = self.run()
        return _read_from(run / "trials.jsonl", 0)[0] if run else []

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
        log = self.run() / "trials.jsonl"
        offset = log.stat().st_size if log.exists() else 0
        deadline = time.time() + min(START_WAIT_S, self.left() + 30)
        while owner.alive and time.time() < deadline:
            events, offset = _read_from(log, offset)
            if any(e.get("event") == "epoch_end" and e.get("epoch") == epoch for e in events):
                return True
            time.sleep(POLL_S)
        if owner.alive:
            self.problems.append(f"no epoch {epoch + 1} ended in {START_WAIT_S:.0f} s (a hang?)")
        return False

    # --- faults ---
    def inject(self, kind: str) -> FaultRecord:
        rec = FaultRecord(kind)
        getattr(self, "_" + kind)(rec)
        rec.starts_after, rec.at = self.search_starts(), time.time()
        if rec.injected and not rec.expected:
            self.problems.append(f"{kind} {rec.moment}: unexpected {rec.outcome}")
        return rec

    def _stop_file(self, rec: FaultRecord) -> None:
        from tuning_core.rundir import RunDir

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

    # --- the end ---
    def inject_all(self, plan: list[str], budget_share: float) -> list[FaultRecord]:
        records: list[FaultRecord] = []
        stop_at = time.time() + self.left() * budget_share
        for kind in plan:
            for _ in range(3):  # a moment can be missed when the search ends first
                if self.finished() or time.time() > stop_at:
                    break
                records.append(self.inject(kind))
                if records[-1].injected:
                    break
                self.missed += 1
        done = sum(r.injected for r in records)
        if done < len(plan):
            why = "the search finished" if self.finished() else "the time share ran out"
            self.problems.append(f"only {done} of {len(plan)} faults injected: {why}")
        return records

    def finish(self) -> bool:
        """Resume until the log's last search_end says finished."""
        for attempt in range(FINISH_TRIES + 1):
            if self.owner is not None and self.owner.alive:
                code = self.reap(self.owner, limit=self.left() + 30)
                if code != 0:
                    self.problems.append(f"resume exited {code}: {self.owner.stderr_tail()}")
            if self.finished():
                return True
            if attempt == FINISH_TRIES or self.left() <= 0:
                break
            self.launch_owner()
        self.problems.append(f"the search did not finish (last status {self.last_end()})")
        return False

    def retrain(self) -> bool:
        run = self.run()
        proc = self.spawn(["-m", "tuning_core", "best", str(run), "--epochs", "1"], "best")
        code = proc.wait(START_WAIT_S + self.left())
        if code is None:
            self.problems.append("best --epochs 1 hung; killed")
            proc.kill()
        ok = code == 0 and (run / "best" / "evaluation.json").is_file()
        if not ok:
            self.problems.append(f"best --epochs 1 exited {code}: {proc.stderr_tail()}")
        return ok

    def result(self, records: list[FaultRecord], retrained: bool, wall_s: float) -> SoakResult:
        run = self.run()
        log = run / "trials.jsonl" if run else None
        audit = audit_log(log.read_text().splitlines() if log and log.is_file() else [])
        problems = self.problems + audit.bad_lines + audit.duplicates + \
            [s for signs in audit.writer_signs.values() for s in signs]
        lost = _check_trials(audit, kerastuner_trials(run / "tuner") if run else {}, problems)
        completed = len(audit.ended_ids())
        if completed != self.max_trials:
            problems.append(f"{completed} trials ended in the log, not {self.max_trials}")
        injected = [r for r in records if r.injected]
        survived = [r for r in injected if _survived(r, audit)]
        problems += [f"{r.kind} {r.moment}: the run did not go on after it"
                     for r in injected if r not in survived]
        problems += _unended(audit, self.owners)
        let_in = sum(r.let_in for r in injected)
        excess = max(0, len(audit.segments) - len(self.owners) - let_in)
        if excess:
            problems.append(f"{len(audit.segments)} search starts from {len(self.owners)} launches")
        return SoakResult(
            faults_injected=dict(Counter(r.kind for r in injected)),
            faults_survived=dict(Counter(r.kind for r in survived)),
            trials_lost=lost, duplicates=len(audit.duplicates),
            double_writers_let_in=let_in + len(audit.writer_signs) + excess,
            refused_second_writers=sum(r.refused for r in injected), wall_s=wall_s,
            max_trials=self.max_trials, completed=completed, retrained=retrained,
            problems=problems, faults=[asdict(r) for r in records], launches=len(self.owners))


def _check_trials(audit: LogAudit, kt: dict[str, str], problems: list[str]) -> int:
    """Trials KerasTuner completed against the log's completed or stopped ends; how many differ."""
    kt_done = {t for t, s in kt.items() if s == "COMPLETED"}
    log_done = audit.ended_ids(("completed", "stopped"))
    problems += [f"trial {t}: completed in KerasTuner, no completed/stopped end in the log"
                 for t in sorted(kt_done - log_done)]
    problems += [f"trial {t}: completed/stopped in the log, not completed in KerasTuner "
                 f"({kt.get(t, 'no trial.json')})" for t in sorted(log_done - kt_done)]
    problems += [f"trial {t} is {s} in KerasTuner after the search" for t, s in sorted(kt.items())
                 if s not in ("COMPLETED", "FAILED")]
    return len(kt_done ^ log_done)


def _healthy(segment: Segment) -> bool:
    return segment.trials > 0 or segment.end in ("finished", "stopped", "budget")


def _survived(rec: FaultRecord, audit: LogAudit) -> bool:
    """A resume after the fault got going; for a refused second writer, the owner went on."""
    if rec.kind == "second_writer":
        own = audit.segments[rec.starts_after - 1] if rec.starts_after else None
        return rec.refused and own is not None and (own.last_time > rec.at or own.end is not None)
    return any(_healthy(s) for s in audit.segments[rec.starts_after:])


def _unended(audit: LogAudit, owners: list[Proc]) -> list[str]:
    """Only a process that died abruptly may leave a search without its end."""
    unended = sum(1 for s in audit.segments if s.end is None)
    abrupt = sum(1 for p in owners if p.popen.returncode is not None and
                 (p.popen.returncode < 0 or p.popen.returncode == 130))
    return [] if unended <= abrupt else [
        f"{unended} searches have no search_end but only {abrupt} processes died abruptly"]


def soak(data_dir: str | Path, work_dir: str | Path, faults: int, seed: int, max_trials: int,
         epochs: int, time_limit_s: float, kinds: Sequence[str] = KINDS) -> SoakResult:
    """Drive a random search through ``faults`` random faults, then finish it and retrain.

    ``kinds``: the fault kinds to draw from (each once per shuffled round). The search is
    the 'small' preset at 16 px; children use a training slot under ``work_dir``. Never
    raises for what a fault did to the run: that goes to ``SoakResult.problems``.
    """
    unknown = set(kinds) - set(KINDS)
    if unknown or not kinds:
        raise ValueError(f"fault kinds must be some of {KINDS}; got {list(kinds)}")
    started = time.time()
    ctx = _Soak(Path(data_dir), Path(work_dir), seed, max_trials, epochs, time_limit_s)
    records: list[FaultRecord] = []
    retrained = False
    try:
        records = ctx.inject_all(schedule(kinds, faults, ctx.rng), budget_share=0.7)
        if ctx.finish():
            retrained = ctx.retrain()
    finally:
        ctx.kill_all()
    return ctx.result(records, retrained, time.time() - started)
