"""Fault-injection soak: drive a small search through random faults, resuming after each.

Faults (``KINDS``): a stop-request file, Ctrl-C (SIGINT), SIGTERM, a double SIGINT (abort),
kill -9 during start-up or mid-trial, a second process resuming the run while it trains
(it must be refused), and around the run (``bench.soak.workspace_faults``): its disk filling
mid-search, its image folder edited between a stop and a resume, two servers' dispatchers
on one workspace with a queued job, and a power cut (kill -9) of a writer of notes.json,
run.json, the job queue, the lab accounts or best/. Every process is a real
``python -m tuning_core`` (or a server's dispatcher, or a writer) on this machine, in a
session of its own (so a whole process group is signalled, and killed at the end whatever
happened); every wait is bounded. Then the run is resumed until its log says finished, its
best trial retrained, and the log checked line by line and against KerasTuner's records.

This module holds ``KINDS``, ``SoakResult``, the soak driver (all faults, finishing, retraining,
the result) and ``soak()``. The pieces live beside it: ``bench.soak.procs`` (child processes,
the fault schedule, ``FaultRecord``), ``bench.soak.faults`` (the run's owners and one injector
per fault kind), ``bench.soak.workspace_faults`` (the faults around the run),
``bench.soak.files`` (every file read back through the product's readers; the small disk),
``bench.soak.writers`` (the power cut's writer child) and ``bench.soak.audit`` (the log audit
and the final checks).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.soak.audit import (
    audit_log,
    check_trials,
    kerastuner_trials,
    survived_fault,
    unended_problems,
)
from bench.soak.faults import START_WAIT_S
from bench.soak.procs import FaultRecord, schedule
from bench.soak.workspace_faults import EDITS, WorkspaceFaults
from tuning_core.runs.rundir import RunDir

KINDS = ("stop_file", "sigint", "sigterm", "double_sigint", "kill9_startup", "kill9_training",
         "second_writer", "disk_full", "folder_edit", "second_server", "power_cut")
FINISH_TRIES = 6


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
    unreadable_files: int = 0  # files of the run or workspace the product's readers refused
    split_changed_silently: int = 0  # folder edits after which the test split changed unsaid

    @property
    def injected(self) -> int:
        return sum(self.faults_injected.values())

    @property
    def survived(self) -> int:
        return sum(self.faults_survived.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Soak(WorkspaceFaults):
    """A whole soak: all its faults, then finishing the search, retraining, and the result."""

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
        ok = code == 0 and RunDir(run).has_best()
        if not ok:
            self.problems.append(f"best --epochs 1 exited {code}: {proc.stderr_tail()}")
        return ok

    def result(self, records: list[FaultRecord], retrained: bool, wall_s: float) -> SoakResult:
        self.check_files()  # every file of the run and the workspace, at the end too
        path = self.run()
        run = RunDir(path) if path else None
        log = run.log_path if run else None  # raw lines: the audit reports damaged ones
        audit = audit_log(log.read_text().splitlines() if log and log.is_file() else [])
        problems = self.problems + audit.bad_lines + audit.duplicates + \
            [s for signs in audit.writer_signs.values() for s in signs]
        lost = check_trials(audit, kerastuner_trials(run) if run else {}, problems)
        completed = len(audit.ended_ids())
        if completed != self.max_trials:
            problems.append(f"{completed} trials ended in the log, not {self.max_trials}")
        injected = [r for r in records if r.injected]
        survived = [r for r in injected if survived_fault(r, audit)]
        problems += [f"{r.kind} {r.moment}: the run did not go on after it"
                     for r in injected if r not in survived]
        problems += unended_problems(audit, self.owners)
        let_in = sum(r.let_in for r in injected)
        launched = len(self.owners) + self.extra_starts  # a queued job's search is launched too
        excess = max(0, len(audit.segments) - launched - let_in)
        if excess:
            problems.append(f"{len(audit.segments)} search starts from {launched} launches")
        return SoakResult(
            faults_injected=dict(Counter(r.kind for r in injected)),
            faults_survived=dict(Counter(r.kind for r in survived)),
            trials_lost=lost, duplicates=len(audit.duplicates),
            double_writers_let_in=let_in + len(audit.writer_signs) + excess,
            refused_second_writers=sum(r.refused for r in injected), wall_s=wall_s,
            max_trials=self.max_trials, completed=completed, retrained=retrained,
            problems=problems, faults=[asdict(r) for r in records], launches=len(self.owners),
            unreadable_files=len(self.unreadable), split_changed_silently=self.split_silent)


def soak(data_dir: str | Path, work_dir: str | Path, faults: int, seed: int, max_trials: int,
         epochs: int, time_limit_s: float, kinds: Sequence[str] = KINDS,
         edits: Sequence[str] = EDITS) -> SoakResult:
    """Drive a random search through ``faults`` random faults, then finish it and retrain.

    ``kinds``: the fault kinds to draw from (each once per shuffled round); ``edits``: what
    a folder_edit fault may do to an image. The search is the 'small' preset at 16 px on a
    copy of ``data_dir``; children use a training slot under ``work_dir``, whose ``runs``
    folder is a small tmpfs when disk_full is drawn (root only). With power_cut, a retrain
    is cut while it writes best/ before the final one. Never raises for what a fault did to
    the run: that goes to ``SoakResult.problems``.
    """
    unknown = set(kinds) - set(KINDS)
    if unknown or not kinds:
        raise ValueError(f"fault kinds must be some of {KINDS}; got {list(kinds)}")
    started = time.time()
    ctx = _Soak(Path(data_dir), Path(work_dir), seed, max_trials, epochs, time_limit_s)
    records: list[FaultRecord] = []
    retrained = False
    try:
        ctx.setup(kinds, edits)
        records = ctx.inject_all(schedule(kinds, faults, ctx.rng), budget_share=0.7)
        if ctx.finish():
            if "power_cut" in kinds:  # a retrain cut while it writes best/, then a whole one
                records.append(ctx.power_cut_best())
            retrained = ctx.retrain()
        ctx.kill_all()
        return ctx.result(records, retrained, time.time() - started)
    finally:
        ctx.kill_all()
        ctx.close()  # the small disk goes last: the result reads the run on it
