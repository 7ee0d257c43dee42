"""The Search page's workers of a distributed search: the lab agents' slots to ask for, and
the workers connected to a running search."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common import live, state
from tuning_core.core.workspace import workspace_dir
from tuning_core.distributed.agent import free_slots, slot_rows
from tuning_core.distributed.launch import worker_command, workers
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import AGENTS_ALL


def agents_form(current: int) -> int:
    """How many workers to ask of the lab's agents, beside a table of their slots."""
    rows, free = slot_rows(workspace_dir()), free_slots(workspace_dir())
    choices = [0, AGENTS_ALL, *range(1, max(free, current, 1) + 1)]
    agents = st.selectbox(
        "Agents' workers", choices, key=state.widget("search.agents", current),
        format_func=lambda n: "none" if n == 0 else f"all free ({free} now)"
        if n == AGENTS_ALL else str(n),
        help="Workers started by the agents of lab machines (`python -m tuning_core agent` "
             "on each; they announce themselves in the workspace). With Workers at 0 the "
             "search runs on the agents' workers only.")
    if rows:
        st.caption(f"{free} free slot(s) on {len({r['agent'] for r in rows})} agent(s):")
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.caption("No agent is running: start `python -m tuning_core agent` on a machine "
                   "that mounts this workspace to offer it here.")
    return int(agents)


def workers_panel(run_dir: Path) -> None:
    """A distributed search's workers: how to add one, and who is connected now."""
    run = RunDir(run_dir)
    connected = workers(run)
    if not connected and not run.chief_path.exists():
        return
    st.markdown("**Workers**")
    st.caption("Add a worker from a machine that mounts this workspace:")
    st.code(worker_command(run), language="bash")
    if not connected:
        st.caption("No worker is connected.")
        return
    st.dataframe(pd.DataFrame([{
        "worker": w.worker, "host": w.host, "pid": w.pid, "device": w.device,
        "trial": w.trial or "–", "heartbeat": f"{live.duration(w.heartbeat_age)} ago",
    } for w in connected]), hide_index=True, width="stretch")
