"""Figure 9's CPU pinning: the server and the searches on one CPU set, the browsers on the rest.

In a lab the browsers run on the members' own machines, so in figure 9 they must not take CPU
from the server or the search. Affinity is inherited across fork and exec, so each side gets
its set from the thread that starts it (:func:`pinned`); Chromium's GPU process moves two of
its own threads afterwards, which :func:`hold_browsers` moves back; :func:`check_pinning`
reads back every thread of both process trees; :func:`pinning_note` says in the figure's
notes what each side had, or why nothing was pinned. The pure helpers (``split_cpus``,
``allowed_cpus``, ``tree``) are in :mod:`bench.viewers.measure`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.viewers.measure import (
    Condition,
    CpuSplit,
    allowed_cpus,
    cpu_list,
    read_stats,
    split_cpus,
    tree,
)

# False measures as before pinning (everything on every CPU), the browsers competing with the
# server and the search; the headline is the pinned measurement.
PIN = True


@contextmanager
def pinned(cpus: frozenset[int] | None) -> Iterator[None]:
    """This thread on ``cpus`` (None: left as it is) while inside; processes started meanwhile
    inherit them, and so do their children. Only this thread changes (affinity is per thread),
    so threads started before keep theirs."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def usable_split() -> CpuSplit | None:
    """The CPU split figure 9 runs under: None when ``PIN`` is off, the platform cannot pin
    (no ``sched_setaffinity``) or fewer than 2 CPUs are usable."""
    if not PIN or not hasattr(os, "sched_setaffinity"):
        return None
    return split_cpus(os.sched_getaffinity(0))


def is_renderer(pid: int) -> bool:
    try:
        return b"--type=renderer" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _sides(split: CpuSplit, server: int,
           search: subprocess.Popen | None) -> list[tuple[int, frozenset[int]]]:
    """(pid, the CPUs it must have) of the server's and the live search's trees (the server's
    set) and of the browsers' tree: this process's other descendants, itself left out."""
    stats, me = read_stats(), os.getpid()
    roots = [server] + ([search.pid] if search and search.returncode is None else [])
    sides = [(pid, split.work) for root in roots for pid in tree(root, stats)]
    return sides + [(pid, split.browsers) for pid in tree(me, stats, skip=roots) if pid != me]


def hold_browsers(split: CpuSplit | None, server: int,
                  search: subprocess.Popen | None = None) -> int:
    """Moves back to the browsers' CPUs any browser-side thread that left them; returns how many.

    Inherited affinity is not enough for Chromium: its GPU process (software GL here, no GPU)
    pins its two rasterizer workers ("Thread<00>", "Thread<01>") to CPU 0 itself, on the
    server's side, some time after launch. Moved back, they stay (checked with a WebGL page
    drawing), so this runs before each search starts and at each check.
    """
    if split is None:
        return 0
    moved = 0
    for pid, expected in _sides(split, server, search):
        for tid, cpus in allowed_cpus(pid).items():
            if expected == split.browsers and cpus != expected:
                try:
                    os.sched_setaffinity(tid, expected)
                    moved += 1
                except ProcessLookupError:
                    continue  # the thread ended
    return moved


def check_pinning(split: CpuSplit | None, server: int,
                  search: subprocess.Popen | None) -> tuple[int, int, int]:
    """(processes checked, Chromium renderers among them, browser threads moved back first):
    every thread of the server's and the live search's trees must be allowed exactly the
    server's CPUs, and every thread of the browsers' tree exactly the browsers' (strays are
    moved back first, see ``hold_browsers``). RuntimeError naming the first few that are not;
    (0, 0, 0) when nothing is pinned."""
    if split is None:
        return 0, 0, 0
    moved = hold_browsers(split, server, search)
    sides = _sides(split, server, search)
    wrong = [f"{pid} thread {tid}: CPU {cpu_list(cpus)}, expected {cpu_list(expected)}"
             for pid, expected in sides for tid, cpus in allowed_cpus(pid).items()
             if cpus != expected]
    if wrong:
        raise RuntimeError("figure 9's processes are off their CPUs: " + "; ".join(wrong[:5]))
    return len(sides), sum(is_renderer(pid) for pid, _ in sides), moved


def pinning_note(split: CpuSplit | None, conditions: list[Condition], moved: int = 0) -> str:
    """Which CPUs each side had, and how that was checked; or why nothing was pinned."""
    if split is None:
        why = ("PIN is off" if not PIN else
               f"only {len(os.sched_getaffinity(0))} usable CPU(s)"
               if hasattr(os, "sched_setaffinity") else "this platform has no CPU affinity")
        return (f"NOT pinned ({why}): the browsers shared every CPU with the server and the "
                "searches, so the ratio and latencies include the browsers' load, which a lab "
                "deployment (browsers on the members' machines) does not have.")
    return (f"pinned: {split.describe()} (this process, Playwright's client, on the browsers' "
            "CPUs too), in both arms of every pair; affinity inherited from the starting "
            f"thread; threads Chromium's GPU process pinned to CPU 0 itself were moved back: "
            f"{moved} after launch and in the warm-up, {sum(c.moved for c in conditions)} "
            "later. "
            "Checked in every condition from /proc/<pid>/task/*/status "
            f"Cpus_allowed_list: {sum(c.checked for c in conditions)} process readings, all "
            "threads on their side's CPUs; up to "
            f"{max((c.renderers for c in conditions), default=0)} Chromium renderers at once.")
