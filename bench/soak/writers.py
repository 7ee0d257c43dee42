"""The power-cut soak's writer: a child that rewrites one of the product's files in a loop,
through the product's own code, until it is killed with SIGKILL at a random moment.

``python -m bench.soak.writers TARGET RUN_DIR WORKSPACE`` prints ``ready`` once its imports
are done (so the kill lands in the writing, not in the start-up), then writes without end:

* ``notes``: the run's notes.json through ``runs.catalogue.edit_notes`` (a growing text);
* ``run_json``: the run's run.json, rewritten with its own settings as ``RunDir.create``
  writes it (``core.atomic.write_json``);
* ``queue``: the workspace's job queue (SQLite): a job queued, claimed and finished;
* ``accounts``: the lab accounts (``lab/users.json``): a user added, its password set, removed.

Each loop prints ``wrote N`` now and then so the soak can tell writes happened.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

TARGETS = ("notes", "run_json", "queue", "accounts")
IMPORTS = ("tuning_core.runs.catalogue", "tuning_core.core.atomic", "tuning_core.runs.rundir",
           "tuning_core.jobs.queue", "tuning_core.lab.accounts", "tuning_core.lab.files")


def _notes(run: Path, workspace: Path) -> None:
    from tuning_core.runs.catalogue import edit_notes

    n = 0
    while True:
        n += 1
        edit_notes(run, f"soak {n}", "power cut soak. " * (1 + n % 300), ["soak", f"n{n % 7}"])
        _said(n)


def _run_json(run: Path, workspace: Path) -> None:
    from tuning_core.core import atomic
    from tuning_core.runs.rundir import RUN_FILE, RunDir

    rundir = RunDir(run)
    config = rundir.config().to_dict()
    n = 0
    while True:
        n += 1
        atomic.write_json(rundir.file(RUN_FILE), config, indent=2)
        _said(n)


def _queue(run: Path, workspace: Path) -> None:
    from tuning_core.core.workspace import queue_path
    from tuning_core.jobs.queue import JobQueue
    from tuning_core.jobs.records import JobState, QueueKind
    from tuning_core.lab.actor import Actor
    from tuning_core.runs.locks import this_host

    queue = JobQueue(queue_path(workspace))
    n = 0
    while True:
        n += 1
        fake = workspace / "powercut-runs" / f"{os.getpid()}-{n}"  # never a second active job
        job = queue.enqueue(QueueKind.SEARCH, fake, Actor().record_name, {"powercut": n})
        claimed = queue.claim_next(this_host(), os.getpid())
        if claimed is not None:  # ours, or one an earlier cut writer left waiting
            queue.finish(claimed.id, JobState.FINISHED, f"power cut writer {n}")
        if claimed is None or claimed.id != job.id:  # another job ran or waited first
            queue.cancel(job.id, Actor())
        _said(n)


def _accounts(run: Path, workspace: Path) -> None:
    from tuning_core.lab.accounts import Role, ScryptParams, UserStore
    from tuning_core.lab.files import lab_dir

    store = UserStore(lab_dir(workspace) / "users.json", ScryptParams(n=2**4))  # cheap hashes
    name = f"cut{os.getpid()}"
    n = 0
    while True:
        n += 1
        if store.get(name) is None:
            store.add(name, Role.MEMBER, f"password-{n}-long-enough")
        store.set_password(name, f"password-{n}-changed-too")
        if n % 3 == 0:
            store.remove(name)
        _said(n)


def _said(n: int) -> None:
    if n in (1, 10) or n % 100 == 0:
        print(f"wrote {n}", flush=True)


def main(argv: list[str]) -> int:
    target, run, workspace = argv[0], Path(argv[1]), Path(argv[2])
    writer = {"notes": _notes, "run_json": _run_json, "queue": _queue,
              "accounts": _accounts}[target]
    for module in IMPORTS:  # before "ready": the kill must land in the writes, not imports
        importlib.import_module(module)
    print("ready", flush=True)
    writer(run, workspace)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
