"""Live Plotly charts that keep the user's zoom and legend choices while their data grows.

Why this exists: in streamlit 1.67, ``st.plotly_chart`` hashes the whole figure into the
element id even when a ``key`` is given (``key_as_main_identity=False``), so each redraw with
new data gets a new id, the browser mounts a new chart, and Plotly's ``uirevision`` (which only
works within one mounted chart) cannot keep the zoom: it resets at every epoch. Making the id
depend on the key alone does not help: the 1.67 frontend then keeps showing the first figure
and ignores the new data. The upstream fix is streamlit PR #16052, not in 1.67.

The workaround, measured in headless Chromium: a small script (``pages/assets/live_chart.js``),
added next to each live chart with ``st.html(..., unsafe_allow_javascript=True)``, remembers
per chart key the axis ranges (from ``plotly_relayout``: zoom, pan, double-click reset) and
legend show/hide by trace name (from ``plotly_restyle``), and wraps ``window.Plotly.react``
(the call the chart component makes) to lay them over each newly mounted figure before it is
drawn, so nothing flickers. Only charts drawn through :func:`live_chart` are touched; the
memory lasts as long as the tab.

It relies on 1.67's frontend (the global ``Plotly``, the ``st-key-<key>`` class on the element
container), so it is applied only for streamlit 1.67.x; other versions get plain
``st.plotly_chart``. Proven by ``tests/browser/test_zoom.py``.
"""

from __future__ import annotations

import functools
import re

import streamlit as st

from pages.common.feed import ASSETS

APPLIES = st.__version__.startswith("1.67.")


@functools.cache
def _script() -> str:
    """``pages/assets/live_chart.js`` (installs itself once per browser tab); read once."""
    return (ASSETS / "live_chart.js").read_text()


def key_class(key: str) -> str:
    """The class streamlit's frontend puts on a keyed element's container."""
    return "st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", key.strip())


def live_chart(fig, key: str, feed_hash: str | None = None) -> None:
    """``st.plotly_chart(fig, key=key, width="stretch")`` that keeps zoom across data updates.

    On streamlit 1.67.x a hidden ``st.html`` element goes before the chart (see the module
    docstring); elsewhere this is plain ``st.plotly_chart``. ``feed_hash``: the live feed's
    hash of this same figure, so the feed's first answer does not draw the chart again
    (``pages/assets/live_feed.js`` reads it: six charts drawn twice were most of a large
    Monitor's browser time).
    """
    if APPLIES:
        drawn = f" data-live-fig-hash='{feed_hash}'" if feed_hash else ""
        st.html(f"<style>[data-testid='stElementContainer']:has([data-live-chart])"
                f"{{display:none}}</style><span data-live-chart='{key_class(key)}'{drawn}>"
                f"</span><script>{_script()}</script>", unsafe_allow_javascript=True)
    st.plotly_chart(fig, key=key, width="stretch")
