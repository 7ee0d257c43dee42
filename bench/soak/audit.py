"""The fault soak's log audit: what a run's trial log and KerasTuner's records say afterwards.

Holds ``Segment`` and ``LogAudit`` (what one pass over ``trials.jsonl`` found), the line-by-line
walk behind ``audit_log``, ``kerastuner_trials`` (each trial's status in KerasTuner's records,
read through ``RunDir.trial_record``), and the final checks a soak's result is built from: the
log against KerasTuner, whether the run went on after each fault, and searches left without an
end. Pure apart from reading files: unit-tested on hand-written logs.

The audit walks the log's raw lines (``RunDir.log_path``), not ``RunDir.reader()``: a damaged
line is what it must report, and the reader skips those on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tuning_core.core.errors import RunError

if TYPE_CHECKING:
    from bench.soak.procs import FaultRecord, Proc
    from tuning_core.runs.rundir import RunDir


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


def kerastuner_trials(run: RunDir) -> dict[str, str]:
    """Trial id -> status as KerasTuner's records (each ``trial_<id>/trial.json`` in the run's
    project folder) say; a record that cannot be read is "unreadable" under its folder's name."""
    found = {}
    for path in sorted(run.project_dir.glob("trial_*/trial.json")):
        try:
            record = run.trial_record(path.parent.name.removeprefix("trial_"))
            found[str(record["trial_id"])] = str(record.get("status"))
        except (RunError, KeyError):
            found[path.parent.name] = "unreadable"
    return found


def check_trials(audit: LogAudit, kt: dict[str, str], problems: list[str]) -> int:
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


def survived_fault(rec: FaultRecord, audit: LogAudit) -> bool:
    """A resume after the fault got going; for a refused second writer, the owner went on;
    for a fault that leaves a search running (a folder edit the resume went on from, a queued
    job, a power cut beside the search), that search trained on. Never after a power cut or
    a full disk that left a file unreadable.

    A fault that struck as the search's last trial ended finds the search finished: there is
    nothing left to go on with, and the search it struck is the proof the run survived.
    """
    own = audit.segments[rec.starts_after - 1] if rec.starts_after else None
    if rec.kind == "second_writer":
        return rec.refused and own is not None and (own.last_time > rec.at or own.end is not None)
    if rec.unreadable:  # a power cut or a full disk left a file its reader cannot read
        return False
    if rec.goes_on and own is not None and _healthy(own) and (
            own.end is not None or own.last_time > rec.at):
        return True  # the search it left running (or its queued job) trained on
    if own is not None and own.end == "finished":
        return True
    return any(_healthy(s) for s in audit.segments[rec.starts_after:])


def unended_problems(audit: LogAudit, owners: list[Proc]) -> list[str]:
    """Only a process that died abruptly may leave a search without its end."""
    unended = sum(1 for s in audit.segments if s.end is None)
    abrupt = sum(1 for p in owners if p.popen.returncode is not None and
                 (p.popen.returncode < 0 or p.popen.returncode == 130))
    return [] if unended <= abrupt else [
        f"{unended} searches have no search_end but only {abrupt} processes died abruptly"]
