"""Benchmark figure 14's in-page recorder (bench/viewers/painted.py): a chart counts once
Plotly drew its traces, and after an action is armed, only once drawn again since.

A page of its own (a box, then a chart drawn a moment later), no dashboard: what is tested is
when the recorder says the page was complete, against when the page's own script drew.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.viewers import painted

pytestmark = pytest.mark.browser

PLOTLY_JS = Path(__import__("plotly").__file__).parent / "package_data" / "plotly.min.js"
URL = "http://painted.test/"
PAGE = f"""<html><body><div class='box'>counts</div><div id='gd'></div>
<script>{PLOTLY_JS.read_text()}</script>
<script>
  const fig = n => ({{data: [{{x: [1, 2, 3].slice(0, n), y: [3, 1, 2].slice(0, n)}}],
                     layout: {{height: 200, width: 400}}}});
  setTimeout(() => Plotly.newPlot('gd', {{data: [], layout: {{height: 200}}}}), 100);
  setTimeout(() => {{ window.drawnAt = Date.now(); Plotly.react('gd', fig(2)); }}, 400);
</script></body></html>"""
SIGHT = painted.Sight(".box", charts=1, script=False)


def test_a_chart_counts_once_drawn_with_its_traces_and_again_after_an_action(new_page):
    page = new_page()
    page.route(URL, lambda route: route.fulfill(body=PAGE, content_type="text/html"))
    painted.install(page.context)
    painted.expect(page.context, SIGHT)
    started = time.time() * 1000
    page.goto(URL)
    first, complete = painted.wait(page, SIGHT, 10_000, started)
    drawn = (page.evaluate("window.drawnAt") - started) / 1000
    assert first < drawn <= complete  # the axes alone (no traces) did not count

    painted.rearm(page, SIGHT)  # an action: the chart already drawn counts no more
    page.wait_for_timeout(300)
    page.evaluate("window.__painted.check()")  # (as at a frame after a change)
    marks = page.evaluate("Object.keys(window.__painted.marks)")
    assert [n.split()[0] for n in marks] == ["first"], "the chart drawn before counted"
    redrawn = page.evaluate("() => { const at = Date.now();"
                            " Plotly.react('gd', fig(3)); return at; }")
    again = time.time() * 1000
    _, complete = painted.wait(page, SIGHT, 10_000, again)
    assert complete >= (redrawn - again) / 1000
