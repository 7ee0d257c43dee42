"""The live feed: what a watching page gets every second, without a Streamlit rerun.

Why: Streamlit reruns a polling fragment in each browser session on the server, whether or
not anything changed: about 0.1 s of one core per rerun here with Streamlit's full garbage
collection after every run (bench figure 9: a live Monitor page cost its session 0.2 of a
core at a 1 s poll; ten viewers slowed the search 1.6x), still ~20 ms with it off
(``.streamlit/config.toml``; figure 11 measures the pages that still poll that way).
So the Monitor body and the sidebar are drawn once by the page script, and a small script in
the page (``pages/assets/live_feed.js``) asks ``/_live/monitor?run=<name>`` and
``/_live/sidebar?run=<name>`` (routes in ``labweb/live.py``; the script is put in the page
by ``pages/common/feed.py``) every ``POLL_MS``, sending the
ETag of what it has. Nothing new: a 304, no body. Something new: a JSON payload built once for
every viewer (the content is memoised per log position in :mod:`tuning_core.live.content`; when to
build anew, the parts' hashes and the ETag: :mod:`tuning_core.live.cache`), of named parts:

* ``parts``: HTML for the elements marked ``data-live-part="<name>"`` (status and counts,
  the trial table, the sidebar), rendered by :mod:`tuning_core.live.html`, the functions the page
  script uses for its first draw, so both always look alike. Every text from a file is escaped.
* ``figures``: Plotly JSON for the chart under the Streamlit key ``<name>``, applied with
  ``Plotly.react`` to the chart that is already there: the chart is not remounted, so Plotly's
  ``uirevision`` keeps the user's zoom and legend (and ``pages/common/live_chart.py``'s keeper too).

The script polls from a Web Worker (its own thread: a page busy drawing still asks on time and keeps
only the newest payload), each feed URL in a loop of its own and each request with a time limit
(``LIMIT_MS``), so an answer that never comes holds nothing else; it applies a part only when its
hash changed, so an idle page does no DOM work, and skips polling while its tab is hidden. Nothing
that fails while applying stops the page's loop. When a feed has given no answer for a few seconds
(server down or restarting, network gone, session ended, run deleted), a quiet notice says "Not
updating: ..." and why; it goes by itself at the next answer. HTML parts are applied at once; charts
after them, one per task, each at most every ``CHART_MS``, and less often while drawing is slow (a
browser short of CPU draws the newest data less often instead of falling behind: bench figure 9 puts
ten pages on one CPU). The Monitor's payload carries the sidebar of its run, so a Monitor page polls
once, not twice. Streamlit's own chart component redraws a chart from the figure of its last rerun
whenever the chart changes (a zoom, our update): the script lets only a change of theme or size
through (with the feed's data), as the echo would otherwise undo the update, or loop (measured: 26
redraws a second, a whole core, once zoomed). No Streamlit here: the routes run outside any session.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from urllib.parse import quote

from tuning_core.core import workspace
from tuning_core.jobs.registry import Progress
from tuning_core.live import content as run_content
from tuning_core.live import html
from tuning_core.live.cache import (
    MIN_AGE_S,
    Feed,
    FeedCache,
    Piece,
    html_piece,
    json_piece,
    payload,
    run_version,
)
from tuning_core.runs.catalogue import active_runs, run_named
from tuning_core.runs.rundir import RunDir

MONITOR_URL, SIDEBAR_URL = "/_live/monitor", "/_live/sidebar"
CHART_PREFIX = "monitor_"  # the Streamlit key of a Monitor chart: CHART_PREFIX + figure name
POLL_MS = 1000  # a new epoch reaches the page within about a second (bench figure 9)
CHART_MS = 1000  # a chart is redrawn at most this often (the counts and table at every poll)
LIMIT_MS = 15000  # a poll with no answer by then is given up (the server waits 10 s at most
                  # for a build: tuning_core.live.cache.BUILD_WAIT_S) and the page says so


def run_path(name: str | None) -> Path | None:
    """The run folder called ``name`` in the workspace, or None (no such run, or not a name)."""
    return run_named(workspace.runs_dir(), name)


def feed_url(base: str, run_dir: Path | None) -> str:
    """The feed route ``base`` for ``run_dir`` (the sidebar's may have no run)."""
    return f"{base}?run={quote(run_dir.name if run_dir else '', safe='')}"


first_read_is_slow = run_content.first_read_is_slow  # the Monitor's headline first
_FRESH = FeedCache()
_FIGURES = run_content.Memo(64)


def figure_specs(content: run_content.MonitorContent) -> dict[str, Piece]:
    """The content's figures as JSON, each serialised and hashed once (while its key holds)."""
    return {name: figure_spec(content, name) for name in content.figures}


def figure_spec(content: run_content.MonitorContent, name: str) -> Piece:
    """One figure of the content as JSON and its hash, as the feed sends it (the page gives
    the hash to the chart it draws, so the feed's first answer does not draw it again)."""
    key, fig = content.figures.entry(name)
    return _FIGURES.get((content.path, name, content.objective, key), partial(_figure_piece, fig))


def _figure_piece(figure: run_content.Figure) -> Piece:
    return json_piece(run_content.figure_json(figure))


def _tables(content: run_content.MonitorContent) -> str:
    return _FIGURES.get(("table", content.path, content.version),
                        lambda: html.table_html(*run_content.live_table(content.table,
                                                                        content.objective)))


def _table_piece(content: run_content.MonitorContent) -> Piece:
    return _FIGURES.get(("table piece", content.path, content.version),
                        lambda: html_piece(_tables(content)))


def monitor_parts(run_dir: Path) -> tuple[run_content.MonitorContent, Progress, dict[str, str]]:
    """The Monitor's content of a run, its progress, and its HTML parts (status, table)."""
    content = run_content.monitor_content(run_dir)
    progress = html.registry().progress(run_dir)
    parts = {"status": html.status_html(content, progress, run_content.pace_text(run_dir)),
             "table": _tables(content)}
    return content, progress, parts


def monitor_feed(run_dir: Path, since: str | None = None) -> Feed:
    """The Monitor's payload of a run: status and counts, table, figures, and the sidebar of
    the same run (one request per poll, not two); only what changed when ``since`` is the
    ETag of a recent answer (:meth:`FeedCache.since`)."""
    key = ("monitor", str(run_dir))

    def build() -> Feed:
        content, progress, parts = monitor_parts(run_dir)
        pieces: dict[str, str | Piece] = {**parts, "table": _table_piece(content),
                                          "sidebar": html.sidebar_html(run_dir, progress)}
        figures: dict[str, str | Piece] = {CHART_PREFIX + n: spec
                                           for n, spec in figure_specs(content).items()}
        return payload(run_dir.name, progress.state.is_active(), pieces, figures,
                       previous=_FRESH.last(key))
    version = run_version(run_dir)
    return _FRESH.since(key, _FRESH.get(key, version, build, live_age(run_dir)), since)


LINES_PER_AGE_S = 15_000  # log lines per second of a live Monitor answer's shortest life
MAX_LIVE_AGE_S = 10.0


def live_age(run_dir: Path) -> float:
    """How long a Monitor answer of a run that is still logging serves every viewer: at least
    ``MIN_AGE_S``, and a second per ``LINES_PER_AGE_S`` lines of its log (up to
    ``MAX_LIVE_AGE_S``). Each new line of a long run's search rebuilt its whole answer:
    0.5-0.8 s of CPU at 10,000 trials, as often as the viewers polled: 0.38 of a core with
    one viewer polling each second, in a search logging ten lines a second. At 10,000 trials
    (127,000 lines) the counts and charts now move every 8.5 s, for 0.07 of a core (measured
    the same way), within figure 11's cost of a live page (at most a tenth of the CPU)."""
    lines = RunDir(run_dir).reader().size
    return min(MAX_LIVE_AGE_S, max(MIN_AGE_S, lines / LINES_PER_AGE_S))


def sidebar_feed(run_dir: Path | None, since: str | None = None) -> Feed:
    """The sidebar's payload (the current run may be none)."""
    name, key = run_dir.name if run_dir else "", ("sidebar", str(run_dir or ""))

    def build() -> Feed:
        return payload(name, bool(active_runs(workspace.runs_dir())),
                       {"sidebar": html.sidebar_html(run_dir)}, previous=_FRESH.last(key))
    return _FRESH.since(key, _FRESH.get(key, run_version(run_dir, read=False), build), since)
