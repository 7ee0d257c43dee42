"""The fault soak's processes and plan: children in sessions of their own, and the faults.

Holds ``Proc`` (a ``python`` child started in its own session, so its whole process group can
be signalled; two threads pump its stdout and stderr into lists), ``schedule`` (the order in
which fault kinds are injected) and ``FaultRecord`` (what one fault did).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the checkout: children run ``-m tuning_core``
POLL_S = 0.05


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
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

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
    goes_on: bool = False  # the search the fault left running (or started) is its proof
    split_silent: bool = False  # folder_edit: the test split changed without a word
    unreadable: int = 0  # files the product's readers could not read right after it
