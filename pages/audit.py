"""Audit log page (lab mode, admins only): who did what, from where, and the accounts."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from pages.common import auth, state
from tuning_core.lab.audit import audit_log
from tuning_core.lab.permissions import Action

SHOWN = 500

st.title("Audit log")
with state.engine_errors():
    auth.actor().check(Action.VIEW_AUDIT)  # the engine decides, not the hidden page link
    events = audit_log().latest(SHOWN)
    st.caption(f"The latest {len(events)} events, newest first. Accounts are managed with "
               "`python -m tuning_core user add|list|remove|passwd` on the server.")
    st.dataframe(pd.DataFrame([{
        "time": datetime.fromtimestamp(e.time), "user": e.user, "role": e.role,
        "address": e.address, "action": e.action.value, "outcome": e.outcome.value,
        "target": e.target, "detail": e.detail} for e in reversed(events)]),
        hide_index=True, width="stretch",
        column_config={"time": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")})
