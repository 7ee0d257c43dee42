"""The soak's faults around the run rather than in its process (issue 27).

``WorkspaceFaults`` adds to ``FaultInjector``:

* ``disk_full``: the run folder lives on a small tmpfs (``files.SmallDisk``); at a random
  moment of training a filler file takes all its space but 600 KB. The search must end with
  exit 2 and one line (``error: disk full: ...``), the log's end saying stopped for disk
  full, never a signal; every file readable; the filler is removed and the next resume
  must finish with no completed trial run twice (the audit's duplicates).
* ``folder_edit``: the search is stopped (stop file) and a few images of the soak's own
  copy of the data are deleted, added, renamed or replaced by corrupt bytes; the resume must
  either go on saying what changed (a line with a count) or refuse with one line and exit 2
  (then the edits are undone, as a user would, and the run resumed later); never a
  traceback, never a test split changed without a word.
* ``second_server``: two dashboard servers' job dispatchers on one workspace (real
  processes, ``jobs.dispatcher.queued_registry``) and a resume job queued: exactly one
  search starts from it, the job ends once, by one of the two servers.
* ``power_cut``: a child rewriting notes.json, run.json, the job queue or the lab accounts
  through the product's code (``bench.soak.writers``) is killed with SIGKILL at a random
  moment; every file of the run and the workspace must then read through the product's
  readers. ``power_cut_best`` does the same to a retrain writing ``best/``.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.soak.faults import EXIT_WAIT_S, START_WAIT_S, FaultInjector
from bench.soak.files import SmallDisk, unreadable_files
from bench.soak.procs import POLL_S, FaultRecord
from bench.soak.writers import TARGETS
from tuning_core.core.workspace import queue_path
from tuning_core.jobs.queue import JobQueue
from tuning_core.jobs.records import JobState, QueueKind, process_alive
from tuning_core.lab.actor import Actor
from tuning_core.runs.rundir import RunDir

EDITS = ("delete", "add", "rename", "corrupt")  # what folder_edit does to a few images
DISK_MB = 160  # the run folder's tmpfs: the search's preflight estimate fits with room
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# A line naming a folder change: a count and a word for what happened to the files.
CHANGE_WORDS = re.compile(r"\d+.*\b(added|new|removed|deleted|gone|missing|renamed|changed|"
                          r"corrupt|unreadable|no longer decode|left out|replaced|moved|"
                          r"differ)", re.IGNORECASE)
SERVER = ("import sys\nfrom tuning_core.jobs.dispatcher import queued_registry\n"
          "registry = queued_registry(sys.argv[1])\nprint('serving', flush=True)\n"
          "sys.stdin.readline()\n")


class WorkspaceFaults(FaultInjector):
    """The disk-full, folder-edit, second-server and power-cut faults."""

    disk: SmallDisk | None = None
    extra_starts = 0  # searches started by a fault's own processes (the queued job's)
    unreadable: list[str]
    split_silent = 0
    said_before: list[str]  # the folder changes the last resume that went on named

    def setup(self, kinds: Sequence[str], edits: Sequence[str] = EDITS) -> None:
        """The soak's own copy of the data (edited by folder_edit, with ``edits``) and, for
        disk_full, the run folder's small disk."""
        unknown = set(edits) - set(EDITS)
        if unknown or not edits:
            raise ValueError(f"folder edits must be some of {EDITS}; got {list(edits)}")
        self.edit_kinds = tuple(edits)
        self.unreadable, self.said_before = [], []
        self.workspace = self.runs_dir.parent
        copy = self.workspace / "data"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(self.data_dir, copy)
        self.data_dir, self.backup = copy, self.workspace / "data-edits"
        self.edits: list[tuple[str, Path, Path | None]] = []
        if "disk_full" in kinds:
            self.disk = SmallDisk(self.runs_dir, DISK_MB)

    def close(self) -> None:
        if self.disk is not None:
            self.disk.unmount()

    def check_files(self, rec: FaultRecord | None = None) -> list[str]:
        """Every file of the run and the workspace read through the product's readers."""
        run = self.run()
        bad = unreadable_files(self.workspace, [run] if run else [])
        new = [b for b in bad if b not in self.unreadable]
        self.unreadable += new
        self.problems += [f"unreadable after {rec.kind if rec else 'the soak'}: {b}"
                          for b in new]
        if rec is not None:
            rec.unreadable = len(bad)
        return bad

    # --- disk full ---
    def _disk_full(self, rec: FaultRecord) -> None:
        if self.disk is None:
            self.problems.append("disk_full needs the soak's small disk (setup)")
            return
        owner = self.ensure_owner()
        rec.moment = self.training_moment(owner)
        if not rec.moment:
            return
        try:
            size = self.disk.fill()
            rec.injected, rec.moment = True, f"{rec.moment}, {size / 1e6:.0f} MB filler"
            code = self.reap(owner, rec)
            end = self._last_end_event()
        finally:
            self.disk.free()  # space freed: the next resume must finish the search
        err = [line for line in owner.err if line.strip()]
        rec.outcome += f", search {end.get('status')} ({end.get('reason', '')})"
        if err:
            rec.outcome += f": {err[-1][:120]}"
        ended_first = code == 0 and end.get("status") == "finished"  # it won the race
        rec.expected = ended_first or (
            code == 2 and len(err) == 1 and err[0].startswith("error: disk full: ")
            and end.get("status") == "stopped" and end.get("reason") == "disk full")
        rec.expected = not self.check_files(rec) and rec.expected

    def _last_end_event(self) -> dict[str, Any]:
        ends = [e for e in self.events() if e.get("event") == "search_end"]
        return ends[-1] if ends else {}

    # --- folder edited between a stop and a resume ---
    def _folder_edit(self, rec: FaultRecord) -> None:
        stopped = self._stop_owner(at_random=True)
        if stopped is None or self.finished():
            return
        run = RunDir(self.run())
        before = _test_split(run)
        rec.moment = f"{stopped}; " + ", ".join(self._edit_data())
        rec.injected = True
        owner = self.launch_owner()
        if owner.wait_said("search started", min(START_WAIT_S, self.left() + 30)):
            out = list(owner.out)  # what it said before its search started
            out = out[:next((i for i, line in enumerate(out)
                             if line.startswith("search started")), len(out))]
            said = [line for line in out + list(owner.err) if CHANGE_WORDS.search(line)]
            # a resume says every change since the search: this edit must change what it says
            new = bool(said) and said != self.said_before
            self.said_before = said
            changed = _test_split(run) != before
            rec.goes_on, rec.expected = True, new
            rec.split_silent = changed and not said
            rec.outcome = (f"went on: {said[0][:160]}" if new else
                           "went on without a word about this change") + \
                (", test split changed" if changed else ", test split kept")
            self.split_silent += rec.split_silent
            return
        code = self.reap(owner, rec)
        err = [line for line in owner.err if line.strip()]
        rec.refused = code == 2
        rec.expected = code == 2 and len(err) == 1 and not any("Traceback" in e for e in err)
        rec.outcome = f"refused (exit {code}): {' / '.join(err)[:200]}"
        if _test_split(run) != before:
            rec.split_silent = True
            self.split_silent += 1
        self._undo_edits()  # the user puts the files back; a later resume goes on

    def _edit_data(self) -> list[str]:
        images = sorted(p for p in self.data_dir.rglob("*") if p.suffix.lower()
                        in IMAGE_SUFFIXES and "soak-" not in p.name)
        self.backup.mkdir(exist_ok=True)
        said = []
        for _ in range(self.rng.randint(1, 3)):
            action = self.rng.choice(self.edit_kinds)
            image = self.rng.choice(images)
            images.remove(image)
            kept = self.backup / f"{len(self.edits)}{image.suffix}"
            if action == "add":
                new = image.with_name(f"soak-added-{len(self.edits)}-{image.name}")
                shutil.copy2(image, new)
                self.edits.append(("add", new, None))
            elif action == "rename":
                new = image.with_name(f"soak-renamed-{image.name}")
                image.rename(new)
                self.edits.append(("rename", image, new))
            else:
                shutil.copy2(image, kept)
                if action == "delete":
                    image.unlink()
                else:
                    image.write_bytes(bytes(self.rng.randrange(256) for _ in range(200)))
                self.edits.append((action, image, kept))
            said.append(f"{action} {image.parent.name}/{image.name}")
        return said

    def _undo_edits(self) -> None:
        for action, path, other in reversed(self.edits):
            if action == "add":
                path.unlink(missing_ok=True)
            elif action == "rename" and other is not None and other.exists():
                other.rename(path)
            elif other is not None and other.exists():
                shutil.copy2(other, path)
        self.edits.clear()

    # --- two servers on one workspace ---
    def _second_server(self, rec: FaultRecord) -> None:
        stopped = self._stop_owner(at_random=False)
        if stopped is None or self.finished():
            return
        run = self.run()
        starts = self.search_starts()
        servers = [self.spawn(["-c", SERVER, str(self.runs_dir)], f"server {i + 1}", stdin=True)
                   for i in range(2)]
        try:
            for server in servers:
                if not server.wait_said("serving", min(START_WAIT_S, self.left() + 30)):
                    self.problems.append(f"{server.role} never served: {server.stderr_tail()}")
                    return
            queue = JobQueue(queue_path(self.workspace))
            job = queue.enqueue(QueueKind.SEARCH, run, Actor().record_name)
            rec.injected = True
            rec.moment = f"{stopped}; resume job {job.id} queued with 2 servers up"
            if not self._wait(lambda: self.search_starts() > starts, START_WAIT_S):
                self.problems.append(f"second_server: queued job {job.id} never started "
                                     f"({queue.get(job.id).state.value})")
            else:
                delay = self.rng.uniform(1.0, 6.0)
                time.sleep(delay)
                rec.moment += f", stopped {delay:.1f} s after its search started"
                RunDir(run).request_stop()
            self._wait(lambda: queue.get(job.id).state.is_done(), EXIT_WAIT_S)
            time.sleep(3.0)  # a second server polling the queue would start it again now
            job = queue.get(job.id)
            runs = self.search_starts() - starts
            self.extra_starts += runs
            by = [s.role for s in servers if s.pid == job.pid]
            rec.outcome = (f"job {job.state.value} ({job.message}), {runs} search start(s), "
                           f"run by {by[0] if by else f'pid {job.pid}'}")
            rec.expected = runs == 1 and job.state is JobState.FINISHED and len(by) == 1
            rec.goes_on = runs >= 1
        finally:
            for server in servers:
                server.kill()

    # --- power cut mid-write ---
    def _power_cut(self, rec: FaultRecord) -> None:
        run = self.run()
        targets = [t for t in TARGETS if run or t in ("queue", "accounts")]
        target = self.rng.choice(targets)
        writer = self.spawn(["-m", "bench.soak.writers", target, str(run or ""),
                             str(self.workspace)], f"{target} writer")
        if not writer.wait_said("ready", min(START_WAIT_S, self.left() + 30)):
            self.problems.append(f"the {target} writer never got ready: {writer.stderr_tail()}")
            writer.kill()
            return
        delay = self.rng.uniform(0.02, 1.5)
        if not self.sleep(writer, delay):
            self.problems.append(f"the {target} writer died: {writer.stderr_tail()}")
            return
        writer.signal(signal.SIGKILL)
        writer.wait(10)
        writes = [line for line in writer.out if line.startswith("wrote")]
        rec.injected, rec.goes_on = True, True
        rec.moment = f"{target}: {delay:.2f} s into its writes ({writes[-1] if writes else ''})"
        bad = self.check_files(rec)
        rec.expected = not bad
        rec.outcome = "every file read" if not bad else f"{len(bad)} unreadable: {bad[0][:140]}"
        if target == "queue":  # what a cut writer left waiting or running goes
            queue = JobQueue(queue_path(self.workspace))
            queue.recover(process_alive)
            for job in queue.jobs():
                if job.params.get("powercut") and job.state.is_waiting():
                    queue.cancel(job.id, Actor())

    def power_cut_best(self) -> FaultRecord:
        """A retrain writing ``best/`` killed at a random moment: best/ must read after."""
        rec = FaultRecord("power_cut")
        run = self.run()
        if run is None:
            return rec
        proc = self.spawn(["-m", "tuning_core", "best", str(run), "--epochs", "1"], "best")
        delay = self.rng.uniform(2.0, 9.0)  # TensorFlow's start-up, the epoch, the writes
        if self.sleep(proc, delay):
            proc.signal(signal.SIGKILL)
            proc.wait(10)
            rec.injected, rec.goes_on = True, True
            rec.moment = f"best/: retrain killed {delay:.1f} s after launch"
            bad = self.check_files(rec)
            rec.expected = not bad
            rec.outcome = "every file read" if not bad else f"{len(bad)} unreadable"
        rec.starts_after, rec.at = self.search_starts(), time.time()
        return rec

    # --- helpers ---
    def _stop_owner(self, at_random: bool) -> str | None:
        """Stop the run's owner (a stop file): at a random moment of its training, or now.
        Launches one first when there is no run yet. The moment said, or None."""
        if self.run() is None:
            owner = self.launch_owner()
            if not owner.wait_said("search started", min(START_WAIT_S, self.left() + 30)):
                return None
        owner = self.owner
        if owner is None or not owner.alive:
            return "no search running"
        moment = self.training_moment(owner) if at_random else "now"
        if not moment:
            return None
        if RunDir(self.run()).request_stop():
            code = self.reap(owner)
            return f"stopped {moment} (exit {code})"
        return None

    def _wait(self, ready: Callable[[], bool], limit: float) -> bool:
        deadline = time.time() + min(limit, self.left() + 30)
        while time.time() < deadline:
            if ready():
                return True
            time.sleep(POLL_S * 4)
        return ready()


def _test_split(run: RunDir) -> list[str]:
    split = run.load_split() or {}
    return sorted(json.dumps(item) for item in split.get("test", []))

