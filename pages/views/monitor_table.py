"""Every trial of a large run, a page at a time: sorted and filtered on the server, with the
count and a CSV of them all.

Why pages: past ``LIVE_ROWS`` trials the live table shows the best and the newest only
(:func:`tuning_core.live.content.live_table`); 10,000 rows sent at once were 7 MB of HTML and
two million DOM nodes. A fragment, so turning a page reruns this part only, not the charts.
Drawn when its expander is opened: the grid's code and first draw were a tenth to a sixth of
a large run's cold Monitor (bench figure 14), for a part below the live table.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tuning_core.live.content import LIVE_ROWS
from tuning_core.runs.trialtable import STATES, table_page


def show_all(table: pd.DataFrame, run: str) -> None:
    """The pager under the live table, for runs past ``LIVE_ROWS`` trials (none below)."""
    if len(table) > LIVE_ROWS:
        box = st.expander("Every trial, a page at a time", key=f"trials_all_{run}",
                          on_change="rerun")
        if box.open:
            with box:
                _pager(table, run)


@st.fragment
def _pager(table: pd.DataFrame, run: str) -> None:
    st.markdown(f"**All {len(table):,} trials**")
    sort, order, status = st.columns([2, 1, 3])
    columns = list(table.columns)
    sort_by = sort.selectbox("Sort by", columns, index=columns.index("number"),
                             key=f"trials_sort_{run}")
    descending = order.toggle("Descending", key=f"trials_desc_{run}")
    statuses = status.multiselect("Status", list(STATES), key=f"trials_status_{run}",
                                  placeholder="every status")
    first = table_page(table, sort_by, descending, statuses)
    page = st.number_input("Page", 1, first.pages, key=f"trials_page_{run}") - 1
    shown = table_page(table, sort_by, descending, statuses, int(page))
    st.caption(f"Page {shown.page + 1} of {shown.pages}: {shown.describe()}.")
    st.dataframe(shown.rows, hide_index=True, width="stretch")
    st.download_button("Download every trial (CSV)", lambda: table.to_csv(index=False),
                       file_name=f"{run}-trials.csv", mime="text/csv", on_click="ignore",
                       key=f"trials_csv_{run}")
