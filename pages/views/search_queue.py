"""The job queue on the pages: who waits for the training slot, in which order, until when."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.common import auth, live, state
from tuning_core.core.errors import TuningError
from tuning_core.jobs.dispatcher import QueueEntry
from tuning_core.jobs.records import QueueKind
from tuning_core.lab.permissions import Action


def entries() -> list[QueueEntry]:
    """The running job and the waiting ones ([] without a queue or when it cannot be read)."""
    dispatcher = state.registry().dispatcher
    if dispatcher is None:
        return []
    try:
        return dispatcher.entries()
    except TuningError as error:
        st.caption(f"The job queue cannot be read: {error}")
        return []


def waiting_count() -> int:
    """How many jobs wait for the slot."""
    return sum(1 for e in entries() if e.position is not None)


def describe(entry: QueueEntry) -> str:
    """"#2 · search of 20261128-…-random by alice · starts in about 4 min"."""
    job = entry.job
    what = "retrain" if job.kind is QueueKind.RETRAIN else "search"
    text = f"{what} of {Path(job.run_dir).name} by {job.owner}"
    if entry.position is None:
        return f"training now · {text}"
    when = live.duration(entry.starts_in_s)
    back = f" · back: {job.message}" if job.requeues and job.message else ""
    return (f"#{entry.position} · {text} · starts in about {when}"
            f"{'+' if entry.assumed else ''}{back}")


def _mine(entry: QueueEntry) -> bool:
    actor = auth.actor()
    return actor.may(Action.CANCEL_JOB, entry.job.owner)


def queue_panel() -> None:
    """The queue with Cancel, Up and Down for the user's own waiting jobs (any, for an admin)."""
    shown = entries()
    if not shown:
        st.caption("The queue is empty: a launch starts at once when the machine is free.")
        return
    for entry in shown:
        left, *buttons = st.columns([8, 1, 1, 1], vertical_alignment="center")
        left.markdown(describe(entry))
        if entry.position is None or not _mine(entry):
            continue
        for col, (label, steps) in zip(buttons, (("↑", -1), ("↓", 1), ("✕", 0)), strict=True):
            if col.button(label, key=f"queue_{entry.job.id}_{label}",
                          help="Cancel this job" if steps == 0 else "Move it in your share"):
                _change(entry, steps)


def _change(entry: QueueEntry, steps: int) -> None:
    actor = auth.actor()
    queue = state.registry().dispatcher.queue
    with state.engine_errors():
        if steps == 0:
            queue.cancel(entry.job.id, actor)
        else:
            queue.move(entry.job.id, steps, actor)
        st.rerun()
