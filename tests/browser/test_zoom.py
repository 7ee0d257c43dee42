"""A live chart keeps the user's zoom and legend choices while its data grows (pages/_plotly.py).

Serves its own tiny script (not the whole app, so no search has to run): a fragment that
redraws two keyed charts with one more point every half second, one through ``live_chart``
and one through plain ``st.plotly_chart`` as the control that shows the remount happened.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from pages._plotly import APPLIES

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 120.0

SCRIPT = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {str(ROOT)!r})
    import plotly.graph_objects as go
    import streamlit as st
    from pages._plotly import live_chart

    def figure(n):
        fig = go.Figure([go.Scatter(x=list(range(n)), y=[i % 5 for i in range(n)], name="a"),
                         go.Scatter(x=list(range(n)), y=[i % 3 for i in range(n)], name="b")])
        return fig.update_layout(uirevision="const")

    @st.fragment(run_every=0.5)
    def live():
        n = st.session_state["n"] = st.session_state.get("n", 4) + 1
        live_chart(figure(n), "kept")
        st.plotly_chart(figure(n), key="plain", width="stretch")

    live()
""")

STATE = """key => {
    const g = document.querySelector(`.st-key-${key} .js-plotly-plot`);
    return g && g.layout.xaxis ? {n: g.data[0].x.length, old: !!g.__old,
        auto: !!g.layout.xaxis.autorange, range: g.layout.xaxis.range,
        visible: g.data.map(t => t.visible === undefined ? true : t.visible)} : null;
}"""

# True once both charts were mounted afresh (the marker is gone) with more points than `n`
REDRAWN = """n => ['kept', 'plain'].every(key => {
    const g = document.querySelector(`.st-key-${key} .js-plotly-plot`);
    return g && !g.__old && g.data && g.data[0].x.length > n;
})"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except OSError:
        return False


@pytest.fixture
def zoom_app(tmp_path: Path):
    """The tiny live-chart script served on a free localhost port; killed afterwards."""
    script = tmp_path / "zoom_app.py"
    script.write_text(SCRIPT)
    log = tmp_path / "streamlit.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.25)  # polling a server that is starting
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _mark_and_wait_for_redraw(page) -> None:
    """Mark both chart divs, then wait until each was replaced by one with more data."""
    n = page.evaluate("""() => Math.max(...[...document.querySelectorAll('.js-plotly-plot')]
        .map(g => { g.__old = true; return g.data[0].x.length; }))""")
    page.wait_for_function(REDRAWN, arg=n, timeout=30_000)


def test_zoom_and_legend_survive_data_updates(zoom_app, new_page):
    page = new_page()
    page.goto(zoom_app)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length == 2",
                           timeout=60_000)
    for key in ("kept", "plain"):
        page.evaluate("""key => {
            const g = document.querySelector(`.st-key-${key} .js-plotly-plot`);
            return Plotly.relayout(g, {'xaxis.range': [1, 2]})
                .then(() => Plotly.restyle(g, {visible: 'legendonly'}, [1]));
        }""", key)
    before = page.evaluate(STATE, "kept")
    assert before["range"] == [1, 2] and before["visible"] == [True, "legendonly"]

    _mark_and_wait_for_redraw(page)
    kept, plain = page.evaluate(STATE, "kept"), page.evaluate(STATE, "plain")
    assert kept["n"] > before["n"]
    assert kept["range"] == [1, 2] and not kept["auto"]
    assert kept["visible"] == [True, "legendonly"]
    if APPLIES:  # the bug this works around: a plain chart is mounted afresh, zoom lost
        assert plain["auto"] and plain["visible"] == [True, True]

    # a reset (Plotly's double-click) is kept too
    page.evaluate("""() => Plotly.relayout(document.querySelector('.st-key-kept .js-plotly-plot'),
                                           {'xaxis.autorange': true})""")
    _mark_and_wait_for_redraw(page)
    kept = page.evaluate(STATE, "kept")
    assert kept["auto"] and kept["range"][1] >= kept["n"] - 1
