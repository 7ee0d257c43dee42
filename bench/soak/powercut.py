"""Power cut mid-write (issue 27): writers killed with SIGKILL at random moments, then every
file they wrote read back through the product's readers.

A writer is a child forked from this process (the engine already imported, so a kill costs
milliseconds, not a start-up) that writes one kind of file in a loop through the product's
own code; after a random few milliseconds it gets SIGKILL. Then the file is read the way the
pages and the command line read it: it must read, restored from its previous version where
the product keeps one, and hold one whole version (old or new), never parts of two. Each
version ``n`` writes ``n`` into every part of the file, so a mix shows as two numbers.

A kill leaves the page cache whole, so on a third of the kills of the files that keep a
previous version the harness also puts a copy cut to half in the file's place, as a file
system may leave the newest name of a file whose data it had not flushed when the power
went; the reader must then restore the previous version (a logged notice), not fail.

Kinds: ``run_json`` (``RunDir.create``), ``notes`` (``catalogue.edit_notes``), ``queue`` (a
job queued, claimed and finished; a job left running by the killed writer must be recovered
by the next dispatcher's ``recover``), ``best`` (a ``best/`` folder staged and swapped in with
``atomic.swap_dir``, as a retrain does), ``export`` (the exports manifest, as an export
writes it), ``account`` (lab accounts: add, new password, remove) and ``audit`` (the audit
log: a torn last line is skipped and the next append starts on a fresh line).

:func:`run_powercut` is the whole test; ``tests/core/test_powercut.py`` runs it with about 50
kills, the fault soak with hundreds (``python -m bench.soak.powercut --kills 700``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import signal
import sqlite3
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuning_core.core import atomic
from tuning_core.core.workspace import QUEUE_FILE
from tuning_core.data.dataset import ImageConfig
from tuning_core.jobs.queue import JobQueue
from tuning_core.jobs.records import JobState, QueueKind, process_alive
from tuning_core.lab.accounts import Role, ScryptParams, UserStore
from tuning_core.lab.audit import AuditAction, AuditEvent, AuditLog
from tuning_core.model.exports.records import ExportRecord, InputSpec
from tuning_core.model.exports.service import load_manifest
from tuning_core.runs.catalogue import edit_notes
from tuning_core.runs.locks import this_host
from tuning_core.runs.rundir import EVALUATION_FILE, HISTORY_FILE, HYPERPARAMETERS_FILE, RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.space.presets import get_preset

KINDS = ("run_json", "notes", "queue", "best", "export", "account", "audit")
TORN_KINDS = ("run_json", "notes", "account")  # files that keep a previous version (.bak)
KILL_AFTER_S = (0.005, 0.150)
CHEAP_HASH = ScryptParams(n=2**4)  # accounts written hundreds of times a second


@dataclass
class PowercutReport:
    """What the kills did: kills and versions written per kind, files cut to half and
    restored, and every problem found (empty when every file read whole)."""

    kills: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    torn: int = 0
    restored: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"kills": self.kills, "versions": self.versions, "torn": self.torn,
                "restored": self.restored, "problems": self.problems,
                "seconds": round(self.seconds, 2)}


class _Notices(logging.Handler):
    """Counts the atomic module's "restored its previous version" notices."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "restored its previous version" in record.getMessage()


def run_powercut(root: Path, kills: int = 49, seed: int = 0,
                 kinds: tuple[str, ...] = KINDS) -> PowercutReport:
    """Kill ``kills`` writers (spread over ``kinds`` in turn) in a workspace under ``root``
    and check every file after each kill; the report lists what did not read whole."""
    rng, report, started = random.Random(seed), PowercutReport(), time.monotonic()
    world = _World.make(root)
    notices = _Notices()
    logging.getLogger(atomic.__name__).addHandler(notices)
    try:
        for cut in range(kills):
            kind = kinds[cut % len(kinds)]
            base = (cut + 1) * 1_000_000  # every cycle's versions are its own numbers
            _kill_writer(world, kind, base, rng.uniform(*KILL_AFTER_S), report)
            report.kills[kind] = report.kills.get(kind, 0) + 1
            if kind in TORN_KINDS and rng.random() < 1 / 3:
                report.torn += _tear(world, kind)
            report.problems += [f"{kind} after kill {cut + 1}: {p}" for p in CHECKS[kind](world)]
    finally:
        logging.getLogger(atomic.__name__).removeHandler(notices)
    report.restored = notices.count
    report.seconds = time.monotonic() - started
    return report


# --- the workspace ----------------------------------------------------------------------


@dataclass
class _World:
    root: Path
    run: RunDir  # the run whose notes, best/ and exports are written
    checked: set[str] = field(default_factory=set)  # run_json: folders read already

    @classmethod
    def make(cls, root: Path) -> _World:
        (root / "runs").mkdir(parents=True, exist_ok=True)
        (root / "lab").mkdir(mode=0o700, exist_ok=True)
        return cls(root, RunDir.create(root / "one-run", _config(root, "notes")))

    @property
    def queue_path(self) -> Path:
        return self.root / QUEUE_FILE

    @property
    def users_path(self) -> Path:
        return self.root / "lab" / "users.json"

    @property
    def audit_path(self) -> Path:
        return self.root / "audit.jsonl"


def _config(root: Path, name: str) -> RunConfig:
    return RunConfig(data_dir=str(root / "images"), space=get_preset("small"), name=name,
                     image=ImageConfig(16, "rgb"), tuner=TunerSettings(tuner="random",
                                                                       max_trials=1))


# --- writers: each loops until killed -----------------------------------------------------


def _write_run_json(world: _World, n: int) -> None:
    RunDir.create(world.root / "runs", _config(world.root, f"v{n}"))


def _write_notes(world: _World, n: int) -> None:
    edit_notes(world.run.path, f"v{n}", f"v{n} " * (1 + n % 400), [f"n{n % 5}"])


def _write_queue(world: _World, n: int) -> None:
    queue = JobQueue(world.queue_path)
    queue.recover(process_alive)  # the job a killed writer left running, as a dispatcher does
    queue.enqueue(QueueKind.SEARCH, world.root / "fake-runs" / f"v{n}", "local", {"n": n})
    claimed = queue.claim_next(this_host(), os.getpid())
    if claimed is not None:  # this one, or one a killed writer left waiting
        queue.finish(claimed.id, JobState.FINISHED, f"v{claimed.params['n']}")


def _write_best(world: _World, n: int) -> None:
    staged = Path(tempfile.mkdtemp(prefix=".best-", dir=world.run.path))
    for name in (HYPERPARAMETERS_FILE, HISTORY_FILE, EVALUATION_FILE):
        atomic.write_json(staged / name, {"n": n, "pad": "x" * (n % 3000)})
    atomic.swap_dir(staged, world.run.best_dir)


def _write_export(world: _World, n: int) -> None:
    manifest = load_manifest(world.run.path)
    record = ExportRecord(key=f"k{n % 3}", label=f"v{n}", runtime="fake", file="", bytes=n,
                          input=InputSpec(16, "rgb", 3), model_stamp=[n, n],
                          created=float(n))
    manifest.records[record.key] = record
    manifest.images_source = f"v{n}"
    world.run.exports_dir.mkdir(exist_ok=True)
    atomic.write_json(world.run.export_manifest_path, manifest.to_dict(), indent=1)


def _write_account(world: _World, n: int) -> None:
    store, name = UserStore(world.users_path, CHEAP_HASH), f"u{n % 4}"
    if store.get(name) is None:
        store.add(name, Role.MEMBER, f"password-v{n}")
    elif n % 3:
        store.set_password(name, f"password-v{n}")
    else:
        store.remove(name)


def _write_audit(world: _World, n: int) -> None:
    AuditLog(world.audit_path).append(AuditEvent(AuditAction.LOGIN, detail=f"v{n}"))


WRITERS: dict[str, Callable[[_World, int], None]] = {
    "run_json": _write_run_json, "notes": _write_notes, "queue": _write_queue,
    "best": _write_best, "export": _write_export, "account": _write_account,
    "audit": _write_audit}


def _kill_writer(world: _World, kind: str, base: int, after_s: float,
                 report: PowercutReport) -> None:
    """Fork a writer of ``kind``, SIGKILL it ``after_s`` later, reap it."""
    error = world.root / f"writer-{kind}.error"
    pid = os.fork()
    if pid == 0:  # the child: write until killed; never returns into the caller
        code = 0
        try:
            n = base
            while True:
                n += 1
                WRITERS[kind](world, n)
        except BaseException:
            error.write_text(traceback.format_exc())
            code = 1
        finally:
            os._exit(code)
    time.sleep(after_s)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if not os.WIFSIGNALED(status):
        report.problems.append(f"{kind} writer ended before its kill: "
                               f"{error.read_text() if error.exists() else status}")
    report.versions[kind] = report.versions.get(kind, 0) + _versions_hint(world, kind, base)


def _versions_hint(world: _World, kind: str, base: int) -> int:
    """How many versions the killed writer got through (0 when it made none)."""
    number = _latest_number(world, kind)
    return max(0, number - base) if number is not None and number > base else 0


def _latest_number(world: _World, kind: str) -> int | None:
    try:
        if kind == "notes":
            return _number(world.run.notes().name)
        if kind == "export":
            return _number(load_manifest(world.run.path).images_source)
        if kind == "best":
            return int((world.run.best_json(EVALUATION_FILE) or {})["n"])
        if kind == "audit":
            events = AuditLog(world.audit_path).latest(1)
            return _number(events[-1].detail or "") if events else None
        if kind == "queue":
            done = JobQueue(world.queue_path).history(1)
            return int(done[0].params["n"]) if done else None
        if kind == "run_json":
            names = [p.name for p in (world.root / "runs").iterdir()]
            return max((_number(n.rsplit("-v", 1)[-1]) for n in names if "-v" in n),
                       default=None)
        if kind == "account":
            return None
    except Exception:  # the checks below say what is wrong; this is only a count
        return None
    return None


def _number(text: str) -> int:
    match = re.fullmatch(r"v?(\d+)", text.strip())
    if not match:
        raise ValueError(f"expected a version 'v<n>'; got {text[:40]!r}")
    return int(match.group(1))


# --- the file system's share of a power cut -------------------------------------------------


def _tear(world: _World, kind: str) -> int:
    """Put half of the newest file of ``kind`` in its place, as a file system may leave a file
    whose data it had not flushed; 1 when a file was cut."""
    path = {"notes": world.run.file("notes.json"), "account": world.users_path,
            "run_json": _newest_run_json(world)}[kind]
    if path is None or not path.is_file() or not atomic.backup_path(path).is_file():
        return 0
    world.checked.discard(path.parent.name)  # run_json: read this folder again
    data = path.read_bytes()
    # the newest name with half its data: a new file (its previous version, flushed long
    # before, stays whole in .bak), as a file system replays a rename whose data it lost
    torn = path.with_name(f".{path.name}.torn")
    torn.write_bytes(data[:len(data) // 2])
    os.replace(torn, path)
    return 1


def _newest_run_json(world: _World) -> Path | None:
    runs = sorted((world.root / "runs").glob("*/run.json"), key=lambda p: p.stat().st_mtime_ns)
    return runs[-1] if runs else None


# --- checks: each returns what did not read whole -------------------------------------------


def _check_run_json(world: _World) -> list[str]:
    problems, empty = [], []
    for folder in sorted((world.root / "runs").iterdir()):
        if folder.name in world.checked:
            continue
        run = RunDir(folder)
        if not run.is_run():
            empty.append(folder.name)  # killed between the folder and its run.json
            continue
        try:
            name = run.config().name
        except Exception as error:
            problems.append(f"{run.file('run.json')} does not read: {error}")
            continue
        if not folder.name.split("-", 2)[-1].startswith(name):
            problems.append(f"{folder.name} holds run.json of {name!r}: a mix")
        world.checked.add(folder.name)
    if len(empty) > 1:
        problems.append(f"{len(empty)} run folders without run.json: {empty[:3]}")
    for name in empty:  # what the catalogue skips: not a run; out of the next check
        world.checked.add(name)
    return problems


def _check_notes(world: _World) -> list[str]:
    try:
        notes = RunDir(world.run.path).notes()
    except Exception as error:
        return [f"notes.json does not read: {error}"]
    if not notes.name:
        return []
    n = _number(notes.name)
    if notes.notes != f"v{n} " * (1 + n % 400) or notes.tags != (f"n{n % 5}",):
        return [f"notes.json mixes version {n} with other text"]
    return []


def _check_queue(world: _World) -> list[str]:
    with sqlite3.connect(world.queue_path) as conn:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if verdict != "ok":
        return [f"the queue's integrity check says {verdict}"]
    queue = JobQueue(world.queue_path)
    jobs = queue.jobs(include_done=True)
    problems = []
    if sum(job.state is JobState.RUNNING for job in jobs) > 1:
        problems.append("two jobs are running")
    for job in jobs:
        if Path(job.run_dir).name != f"v{job.params.get('n')}":
            problems.append(f"job {job.id} mixes {job.run_dir} with params {job.params}")
        if job.state is JobState.FINISHED and job.message != f"v{job.params.get('n')}":
            problems.append(f"job {job.id} finished with another job's message")
    recovered = queue.recover(process_alive)  # as the next dispatcher does
    if queue.running() is not None:
        problems.append(f"a job of the killed writer still holds the slot ({recovered})")
    return problems


def _check_best(world: _World) -> list[str]:
    run = RunDir(world.run.path)
    try:
        numbers = {name: (run.best_json(name) or {}).get("n")
                   for name in (HYPERPARAMETERS_FILE, HISTORY_FILE, EVALUATION_FILE)}
    except Exception as error:
        return [f"best/ does not read: {error}"]
    if len(set(numbers.values())) != 1:
        return [f"best/ mixes versions: {numbers}"]
    return []


def _check_export(world: _World) -> list[str]:
    try:
        manifest = load_manifest(world.run.path)
    except Exception as error:
        return [f"the exports manifest does not read: {error}"]
    if not manifest.images_source:
        return []
    n = _number(manifest.images_source)
    latest = manifest.records.get(f"k{n % 3}")
    if latest is None or latest.bytes != n or any(r.bytes > n for r in manifest.records.values()):
        return [f"the exports manifest mixes version {n} with others"]
    return []


def _check_account(world: _World) -> list[str]:
    try:
        store = UserStore(world.users_path, CHEAP_HASH)
        accounts = store.accounts()
    except Exception as error:
        return [f"users.json does not read: {error}"]
    problems = []
    for name, account in accounts.items():
        if not re.fullmatch(r"u[0-3]", name) or account.user.role is not Role.MEMBER:
            problems.append(f"users.json holds a strange account {name!r}")
    return problems


def _check_audit(world: _World) -> list[str]:
    log = AuditLog(world.audit_path)
    if not world.audit_path.exists():
        return []
    lines = world.audit_path.read_bytes().split(b"\n")
    whole = [line for line in lines[:-1] if line]
    problems = []
    for line in whole:
        try:
            json.loads(line)
        except ValueError:
            problems.append(f"a torn line inside the audit log: {line[:60]!r}")
    events = log.latest(len(whole) + 1)
    times = [e.time for e in events]
    if times != sorted(times):
        problems.append("the audit log's times go back")
    mark = log.append(AuditEvent(AuditAction.LOGOUT, detail="checked"))
    if log.latest(1) != [mark]:
        problems.append("an append after the kill does not read back as the last event")
    return problems


CHECKS: dict[str, Callable[[_World], list[str]]] = {
    "run_json": _check_run_json, "notes": _check_notes, "queue": _check_queue,
    "best": _check_best, "export": _check_export, "account": _check_account,
    "audit": _check_audit}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=700)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="powercut-") as scratch:
        report = run_powercut(args.root or Path(scratch), args.kills, args.seed)
    print(json.dumps(report.to_dict(), indent=1))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
