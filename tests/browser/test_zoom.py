"""A live chart keeps the user's zoom and legend choices while its data grows
(pages/common/live_chart.py).

Serves its own tiny script (not the whole app, so no search has to run): a fragment that
redraws two keyed charts with one more point every half second, one through ``live_chart``
and one through plain ``st.plotly_chart`` as the control that shows the remount happened.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pages.common.live_chart import APPLIES
from tests.browser.conftest import serve

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {str(ROOT)!r})
    import plotly.graph_objects as go
    import streamlit as st
    from pages.common.live_chart import live_chart

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
    return g && g.layout.xaxis && g.data[0] ? {n: g.data[0].x.length, old: !!g.__old,
        auto: !!g.layout.xaxis.autorange, range: g.layout.xaxis.range,
        visible: g.data.map(t => t.visible === undefined ? true : t.visible)} : null;
}"""

# Zoom in and hide trace "b", as a user would; the fragment remounts the charts every half
# second, so retry on whichever chart element is current until the calls go through.
RELAYOUT = """async ([key, layout, hide]) => {
    for (let attempt = 0; attempt < 200; attempt++) {
        const g = document.querySelector(`.st-key-${key} .js-plotly-plot`);
        if (g && g.layout && g.data && g.data.length > 1) {  // drawn with its traces
            try {
                await Plotly.relayout(g, layout);
                if (hide) await Plotly.restyle(g, {visible: 'legendonly'}, [1]);
                return true;
            } catch (error) { /* replaced mid-call: try the new one */ }
        }
        await new Promise(resolve => setTimeout(resolve, 50));
    }
    return false;
}"""

# True once both charts were mounted afresh (the marker is gone) with more points than `n`
REDRAWN = """n => ['kept', 'plain'].every(key => {
    const g = document.querySelector(`.st-key-${key} .js-plotly-plot`);
    return g && !g.__old && g.data && g.data[0] && g.data[0].x.length > n;
})"""


@pytest.fixture
def zoom_app(tmp_path: Path):
    """The tiny live-chart script served on a free localhost port; killed afterwards."""
    script = tmp_path / "zoom_app.py"
    script.write_text(SCRIPT)
    with serve(script, tmp_path, tmp_path / "streamlit.log") as url:
        yield url


def _state(page, key: str) -> dict:
    """The chart's zoom, trace visibility and length, once a chart element exists."""
    return page.wait_for_function(f"key => ({STATE})(key)", arg=key, timeout=30_000).json_value()


def _mark_and_wait_for_redraw(page) -> None:
    """Mark both chart divs, then wait until each was replaced by one with more data."""
    n = page.evaluate("""() => Math.max(...[...document.querySelectorAll('.js-plotly-plot')]
        .map(g => { g.__old = true; return g.data && g.data[0] ? g.data[0].x.length : 0; }))""")
    page.wait_for_function(REDRAWN, arg=n, timeout=30_000)


def test_zoom_and_legend_survive_data_updates(zoom_app, new_page):
    page = new_page()
    page.goto(zoom_app)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length == 2",
                           timeout=60_000)
    for key in ("kept", "plain"):
        assert page.evaluate(RELAYOUT, [key, {"xaxis.range": [1, 2]}, True]), key
    before = _state(page, "kept")
    assert before["range"] == [1, 2] and before["visible"] == [True, "legendonly"]

    _mark_and_wait_for_redraw(page)
    kept, plain = _state(page, "kept"), _state(page, "plain")
    assert kept["n"] > before["n"]
    assert kept["range"] == [1, 2] and not kept["auto"]
    assert kept["visible"] == [True, "legendonly"]
    if APPLIES:  # the bug this works around: a plain chart is mounted afresh, zoom lost
        assert plain["auto"] and plain["visible"] == [True, True]

    # a reset (Plotly's double-click) is kept too
    assert page.evaluate(RELAYOUT, ["kept", {"xaxis.autorange": True}, False])
    _mark_and_wait_for_redraw(page)
    kept = _state(page, "kept")
    assert kept["auto"] and kept["range"][1] >= kept["n"] - 1


PLOTLY_JS = Path(__import__("plotly").__file__).parent / "package_data" / "plotly.min.js"

# Charts as streamlit 1.67 draws them: a first Plotly.react before the chart's width is
# measured (no layout.width), then a second with the width. Plotly makes a new _fullLayout at
# each draw, so the same one after a call means the call drew nothing.
FIRST_DRAWS = """async () => {
    const fig = width => ({data: [{x: [1, 2, 3], y: [3, 1, 2], type: 'scatter'}],
                           layout: {height: 200, ...(width ? {width} : {})}});
    const gd = key => document.querySelector(`.st-key-${key} .chart`);
    for (const key of ['measured', 'hidden', 'plain']) await Plotly.react(gd(key), fig());
    const first = ['measured', 'hidden', 'plain'].map(k => gd(k).data.length);
    const wide = gd('measured')._fullLayout.width, drawn = gd('measured')._fullLayout;
    await Plotly.react(gd('measured'), fig(600));
    const again = gd('measured')._fullLayout === drawn;
    await Plotly.react(gd('measured'), fig(400));
    return {first, wide, again, width: gd('measured')._fullLayout.width};
}"""


def test_a_chart_drawn_before_its_width_is_known_draws_its_traces_once(new_page) -> None:
    """Streamlit 1.67 draws each chart twice on a page's first load, the first time before it
    knows the chart's width: a live chart's first draw is made whole at its box's width, and
    streamlit's second draw at that same width draws nothing again (the traces were half of a
    large Monitor's drawing in the browser; the axes alone first, 0.2-0.3 s more); another
    width is drawn. A chart whose box is not laid out (hidden) is drawn with its axes only,
    then whole should no second draw come; a chart not drawn by ``live_chart`` is left as it
    was."""
    from pages.common.live_chart import _script

    page = new_page()
    shown = {"measured": "", "hidden": " style='display:none'", "plain": ""}
    boxes = "".join(f"<div data-testid='stElementContainer' class='st-key-{key}'{style}>"
                    f"<div class='chart' style='width:600px'></div></div>"
                    for key, style in shown.items())
    marks = "".join(f"<span data-live-chart='st-key-{key}'></span>"
                    for key in ("measured", "hidden"))
    page.set_content(f"<html><body>{marks}{boxes}<script>{_script()}</script></body></html>")
    page.add_script_tag(path=str(PLOTLY_JS))  # sets window.Plotly, as the chart chunk does
    drawn = page.evaluate(FIRST_DRAWS)
    assert drawn["first"] == [1, 0, 1]  # whole at its width; hidden: axes only; plain: whole
    assert drawn["wide"] == 600
    assert drawn["again"], "streamlit's second draw at the same width drew the chart again"
    assert drawn["width"] == 400  # a new width is drawn
    page.wait_for_function(  # no second draw came: drawn whole all the same
        "() => document.querySelector('.st-key-hidden .chart').data.length == 1",
        timeout=10_000)
