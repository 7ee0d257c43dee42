"""The live feed: what a watching page gets twice a second, without a Streamlit rerun.

Why: Streamlit reruns a polling fragment in each browser session on the server, about 0.1 s
of one core per rerun here, whether or not anything changed (bench figure 9: a live Monitor
page cost its session 0.2 of a core at a 1 s poll; ten viewers slowed the search 1.6x).
So the Monitor body and the sidebar are drawn once by the page script, and a small script in
the page (``SCRIPT``) asks ``/_live/monitor?run=<name>`` and ``/_live/sidebar?run=<name>``
(routes in ``labweb/live.py``) every ``POLL_MS``, sending the ETag of what it has. Nothing new:
a 304, no body. Something new: a JSON payload built once for every viewer (the content is
memoised per log position in :mod:`tuning_core.livefeed`), of named parts, each with a hash:

* ``parts``: HTML for the elements marked ``data-live-part="<name>"`` (status and counts,
  the trial table, the sidebar), rendered here, by the same functions the page script uses
  for its first draw, so both always look alike. Every text from a file is escaped.
* ``figures``: Plotly JSON for the chart under the Streamlit key ``<name>``, applied with
  ``Plotly.react`` to the chart that is already there: the chart is not remounted, so Plotly's
  ``uirevision`` keeps the user's zoom and legend (and ``pages/_plotly.py``'s keeper too).

The script applies a part only when its hash changed, so an idle page does no DOM work, and
skips polling while its tab is hidden. The Monitor's payload carries the sidebar of its run,
so a Monitor page polls once, not twice. Streamlit's own chart component redraws a chart from
the figure of its last rerun whenever the chart changes (a zoom, our update): the script lets
only a change of theme or size through (with the feed's data), as the echo would otherwise
undo the update, or loop (measured: 26 redraws a second, a whole core, once zoomed).
No Streamlit here: the routes run outside any session.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tuning_core import livefeed, workspace
from tuning_core.dispatch import queue_entries
from tuning_core.errors import TuningError
from tuning_core.jobs import Progress, get_registry
from tuning_core.rundir import RunDir
from tuning_core.runs import active_runs, launcher, run_named
from tuning_core.states import JobKind, RunStatus

MONITOR_URL, SIDEBAR_URL = "/_live/monitor", "/_live/sidebar"
CHART_PREFIX = "monitor_"  # the Streamlit key of a Monitor chart: CHART_PREFIX + figure name
POLL_MS = 500  # a new epoch shows within about half a second (bench figure 9)
MIN_AGE_S, MAX_AGE_S = 0.5, 5.0  # how long one build serves every viewer (see _Fresh)


def registry():
    """The process's job registry of the workspace (the one the pages use)."""
    return get_registry(workspace.runs_dir(), queued=True)


def run_path(name: str | None) -> Path | None:
    """The run folder called ``name`` in the workspace, or None (no such run, or not a name)."""
    return run_named(workspace.runs_dir(), name)


# --- HTML --------------------------------------------------------------------------------

def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _metric(label: str, value: object) -> str:
    return (f'<div class="live-metric" data-metric="{esc(label)}"><div class="live-label">'
            f'{esc(label)}</div><div class="live-value">{esc(value)}</div></div>')


def status_html(content: livefeed.MonitorContent, progress: Progress,
                pace: str | None) -> str:
    """The run's state line, counts by state, best score, and the run's notices."""
    out = [f'<p class="live-status"><b>{esc(content.run)}</b>: '
           f'{esc(livefeed.describe(progress))}</p>']
    if content.empty:
        out.append('<div class="live-note">No trial has started yet. This page fills in as '
                   'the search runs.</div>')
        return "".join(out)
    best = "–" if content.best is None else f"{content.best:.4f}"
    out.append('<div class="live-metrics">' + "".join(
        _metric(state.capitalize(), count) for state, count in content.counts.items())
        + _metric(f"Best {content.objective}", best) + "</div>")
    if content.chance:
        out.append(f'<div class="live-warning">⚠️ {esc(content.chance)}</div>')
    if content.plan:
        out.append(f'<p class="live-caption">Planned before launch: {esc(content.plan)}</p>')
    if pace:
        out.append(f'<p class="live-caption">Pace of this search: {esc(pace)}</p>')
    return "".join(out)


TABLE_TITLES = {"seconds": "duration (s)", "trial_id": "trial id"}
FLOAT_FORMATS = {"seconds": "{:.1f}", "score": "{:.4f}"}  # hyperparameters: 4 digits


def _cell(value: object, column: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return '<td data-v=""></td>'
    if isinstance(value, float):
        shown = FLOAT_FORMATS.get(column, "{:.4g}").format(value)
        return f'<td data-v="{value!r}" class="num">{esc(shown)}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td data-v="{value}" class="num">{value}</td>'
    return f'<td data-v="{esc(value)}">{esc(value)}</td>'




def table_html(table: pd.DataFrame) -> str:
    """The trial table; a click on a column header sorts by it (the script keeps the order)."""
    if table.empty:
        return ""
    head = "".join(f'<th data-col="{i}" title="Sort">{esc(TABLE_TITLES.get(c, c))}</th>'
                   for i, c in enumerate(table.columns))
    rows = "".join("<tr>" + "".join(_cell(v, c) for v, c in zip(row, table.columns)) + "</tr>"
                   for row in table.astype(object).itertuples(index=False, name=None))
    return (f'<div class="live-table"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>")


def sidebar_html(run_dir: Path | None, progress: Progress | None = None) -> str:
    """The current run and its state, what else trains now, and who waits in the queue.
    ``progress``: the run's, when the caller has it already."""
    out = []
    if run_dir is None:
        out.append('<p class="live-caption">No run yet: design a search and launch it.</p>')
    else:
        progress = progress or registry().progress(run_dir)
        launched_by = launcher(run_dir)
        out.append(f'<p class="live-caption">Current run'
                   f'{" · launched by " + esc(launched_by) if launched_by else ""}</p>')
        out.append(f'<p class="live-status"><b>{esc(run_dir.name)}</b><br>'
                   f'{esc(livefeed.describe(progress))}</p>')
        if progress.kind is JobKind.SEARCH:
            out.append(f'<div class="live-progress"><div style="width:'
                       f'{100 * progress.fraction:.1f}%"></div></div><p class="live-caption">'
                       f'{esc(livefeed.progress_text(progress))}</p>')
        if progress.state == RunStatus.FAILED and progress.message:
            out.append(f'<p class="live-caption">{esc(progress.message)}</p>')
    for run, owner in active_runs(workspace.runs_dir()):
        if run_dir is None or run.path != Path(run_dir).resolve():
            out.append(f'<p class="live-caption">Training now: {esc(run.name)} '
                       f'({esc(owner.kind)}, {esc(owner.describe(livefeed.LATE_HEARTBEAT_S))})'
                       '</p>')
    queue = queue_text()
    if queue:
        out.append(f'<p class="live-caption">{esc(queue)}</p>')
    return "".join(out)


def queue_text() -> str | None:
    """"Queue: #1 run (alice) · #2 ..." for the waiting jobs, or None when none waits."""
    dispatcher = registry().dispatcher
    if dispatcher is None:
        return None
    try:
        running = dispatcher.queue.running()
        left = registry().progress(Path(running.run_dir)).eta_s if running else None
        waiting = [e for e in queue_entries(dispatcher.queue, left) if e.position is not None]
    except TuningError as error:
        return f"The job queue cannot be read: {error}"
    if not waiting:
        return None
    return "Queue: " + " · ".join(f"#{e.position} {Path(e.job.run_dir).name} ({e.job.owner})"
                                  for e in waiting[:5])


def part(name: str, run: str, body: str) -> str:
    """An element the script keeps up to date: ``body`` now, the feed's part later. It
    carries the hash of ``body``, so a first answer with the same content changes nothing
    on the page (no redraw of the table, no focus or open menu disturbed)."""
    return (f'<div data-live-part="{esc(name)}" data-live-run="{esc(run)}" '
            f'data-live-hash="{_digest(body)}">{body}</div>')


def anchor(url: str, run: str, covers_sidebar: bool = False) -> str:
    """Tells the page's script to poll ``url`` for the parts of ``run``. ``covers_sidebar``:
    the feed has the sidebar's part too (the Monitor's), so the sidebar's own is not polled."""
    extra = ' data-live-covers="sidebar"' if covers_sidebar else ""
    return f'<span data-live-feed="{esc(url)}" data-live-run="{esc(run)}"{extra}></span>'


def feed_url(base: str, run_dir: Path | None) -> str:
    from urllib.parse import quote

    return f"{base}?run={quote(run_dir.name if run_dir else '', safe='')}"


# --- payloads ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Feed:
    """One answer of a feed route: the JSON body and its ETag."""

    body: bytes
    etag: str


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _payload(run: str, active: bool, parts: dict[str, str],
             figures: dict[str, str] | None = None) -> Feed:
    hashes = {name: _digest(body) for name, body in parts.items()}
    pieces = [f'"run":{json.dumps(run)}', f'"active":{json.dumps(active)}',
              '"parts":{' + ",".join(f"{json.dumps(n)}:[{json.dumps(hashes[n])},{json.dumps(b)}]"
                                     for n, b in parts.items()) + "}"]
    if figures is not None:
        fig_hashes = {name: _digest(spec) for name, spec in figures.items()}
        hashes.update({"fig:" + n: h for n, h in fig_hashes.items()})
        pieces.append('"figures":{' + ",".join(
            f"{json.dumps(CHART_PREFIX + n)}:[{json.dumps(fig_hashes[n])},{spec}]"
            for n, spec in figures.items()) + "}")
    etag = '"' + _digest(json.dumps([run, active, sorted(hashes.items())])) + '"'
    return Feed(("{" + ",".join(pieces) + "}").encode(), etag)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def run_version(run_dir: Path | None) -> Hashable:
    """Changes when anything a live page shows of the run may have changed: a new log line,
    the owner's record (start, heartbeat, end), a stop request. Costs a few stat calls."""
    if run_dir is None:
        return None
    run = RunDir(run_dir)
    return (run.reader().version, _stamp(run.lock().owner_path), run.stop_requested())


class _Fresh:
    """The last answer per feed, reused while its run's version holds (up to ``MAX_AGE_S``,
    for texts that follow the clock: a late heartbeat, a budget's time left), and for at least
    ``MIN_AGE_S`` even when it changed: a search that logs ten lines a second is shown twice a
    second, and however many people watch, a run costs at most that many builds."""

    def __init__(self) -> None:
        self._items: dict[tuple, tuple[float, Hashable, Feed]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple, version: Hashable, build: Callable[[], Feed]) -> Feed:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit and (now - hit[0] < MIN_AGE_S
                        or (hit[1] == version and now - hit[0] < MAX_AGE_S)):
                return hit[2]
        feed = build()
        with self._lock:
            if len(self._items) > 64:
                self._items.clear()
            self._items[key] = (now, version, feed)
        return feed


_FRESH = _Fresh()
_FIGURES = livefeed.Memo(64)


def figure_specs(content: livefeed.MonitorContent) -> dict[str, str]:
    """The content's figures as JSON, each serialised once (while its key holds)."""
    return {name: _FIGURES.get((content.path, name, content.objective,
                                content.figure_keys[name]), lambda f=fig: livefeed.figure_json(f))
            for name, fig in content.figures.items()}


def _tables(content: livefeed.MonitorContent) -> str:
    return _FIGURES.get(("table", content.path, content.version),
                        lambda: table_html(content.table))


def monitor_parts(run_dir: Path) -> tuple[livefeed.MonitorContent, Progress, dict[str, str]]:
    """The Monitor's content of a run, its progress, and its HTML parts (status, table)."""
    content = livefeed.monitor_content(run_dir)
    progress = registry().progress(run_dir)
    parts = {"status": status_html(content, progress, livefeed.pace_text(run_dir)),
             "table": _tables(content)}
    return content, progress, parts


def monitor_feed(run_dir: Path) -> Feed:
    """The Monitor's payload of a run: status and counts, table, figures, and the sidebar of
    the same run (one request per poll, not two)."""
    def build() -> Feed:
        content, progress, parts = monitor_parts(run_dir)
        parts["sidebar"] = sidebar_html(run_dir, progress)
        return _payload(run_dir.name, progress.state.is_active(), parts, figure_specs(content))
    return _FRESH.get(("monitor", str(run_dir)), run_version(run_dir), build)


def sidebar_feed(run_dir: Path | None) -> Feed:
    """The sidebar's payload (the current run may be none)."""
    name = run_dir.name if run_dir else ""

    def build() -> Feed:
        return _payload(name, bool(active_runs(workspace.runs_dir())),
                        {"sidebar": sidebar_html(run_dir)})
    return _FRESH.get(("sidebar", str(run_dir or "")), run_version(run_dir), build)


# --- the page's script -------------------------------------------------------------------

STYLE = """
.live-metrics{display:flex;flex-wrap:wrap;gap:.5rem 2rem;margin:.5rem 0 1rem}
.live-metric .live-label{font-size:.875rem;opacity:.7}
.live-metric .live-value{font-size:2rem;line-height:1.2}
.live-caption{font-size:.875rem;opacity:.7;margin:.25rem 0}
.live-status{margin:.25rem 0 .5rem}
.live-note,.live-warning{padding:.75rem 1rem;border-radius:.5rem;margin:.5rem 0}
.live-note{background:rgba(28,131,225,.1)}
.live-warning{background:rgba(255,193,7,.15)}
.live-progress{height:.5rem;border-radius:.25rem;background:rgba(128,128,128,.2);margin:.25rem 0}
.live-progress>div{height:100%;border-radius:.25rem;background:#ff4b4b}
.live-table{max-height:28rem;overflow:auto;border:1px solid rgba(128,128,128,.25);
  border-radius:.5rem}
.live-table table{border-collapse:collapse;width:100%;font-size:.875rem}
.live-table th{position:sticky;top:0;background:rgba(128,128,128,.18);backdrop-filter:blur(8px);
  cursor:pointer;text-align:left;white-space:nowrap}
.live-table th,.live-table td{padding:.25rem .5rem;border-bottom:1px solid rgba(128,128,128,.15)}
.live-table td.num{text-align:right;font-variant-numeric:tabular-nums}
.live-table th[data-dir=asc]::after{content:" ▲"}
.live-table th[data-dir=desc]::after{content:" ▼"}
"""

SCRIPT = """
(() => {
  if (window.__liveFeed) return;
  const feed = window.__liveFeed = {etags: {}, payloads: {}, sort: null, mine: false};
  const PERIOD = %(poll)d;
  const sortTable = box => {
    const s = feed.sort, table = box.querySelector("table");
    if (!table) return;
    for (const th of table.querySelectorAll("th"))
      th.dataset.dir = s && th.dataset.col === String(s.col) ? s.dir : "";
    if (!s) return;
    const body = table.tBodies[0], rows = [...body.rows];
    const key = r => { const c = r.cells[s.col]; return c ? c.dataset.v : ""; };
    rows.sort((a, b) => {
      const x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      const cmp = x === "" ? 1 : y === "" ? -1 :
        (!isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y));
      return s.dir === "asc" || x === "" || y === "" ? cmp : -cmp;
    });
    for (const r of rows) body.appendChild(r);
  };
  document.addEventListener("click", ev => {
    const th = ev.target.closest && ev.target.closest(".live-table th");
    if (!th) return;
    const col = Number(th.dataset.col), s = feed.sort;
    feed.sort = {col, dir: s && s.col === col && s.dir === "asc" ? "desc" : "asc"};
    sortTable(th.closest(".live-table"));
  });
  // Layout keys the page owns: Streamlit's theme (template) and the chart's size.
  const OWN = ["template", "width", "height", "autosize"];
  const merged = (page, fig) => {
    const layout = {...fig.layout};
    for (const k of OWN) if (page && page[k] !== undefined) layout[k] = page[k];
    return layout;
  };
  const own = layout => JSON.stringify(OWN.map(k => layout ? layout[k] : undefined));
  const wrap = P => {
    if (P.__liveFeed) return;
    P.__liveFeed = true;
    const react = P.react;
    P.react = function (gd, ...rest) {
      // Streamlit redraws a chart from the figure of its last rerun, and echoes every change
      // of the chart (a zoom, our own updates) with such a redraw. Redrawn as it asks, our
      // data would be lost; redrawn with ours, the echo would loop (tens of redraws a
      // second). So: only a change of the page's own layout keys (theme, size) is redrawn,
      // with the feed's data; an echo is dropped.
      if (feed.mine || !gd || !gd.__liveFig) return react.call(this, gd, ...rest);
      const whole = rest[0] && !Array.isArray(rest[0]) ? rest[0] : null;
      const layout = whole ? whole.layout : rest[1], config = whole ? whole.config : rest[2];
      if (own(layout) === own(gd.layout)) return Promise.resolve(gd);
      return react.call(this, gd, {...(whole || {}), data: gd.__liveFig.data,
                                   layout: merged(layout, gd.__liveFig), config});
    };
  };
  const applyParts = p => {
    for (const [name, [hash, body]] of Object.entries(p.parts || {}))
      for (const el of document.querySelectorAll(`[data-live-part="${name}"]`)) {
        if (el.dataset.liveRun !== p.run || el.dataset.liveHash === hash) continue;
        el.innerHTML = body;
        el.dataset.liveHash = hash;
        const box = el.querySelector(".live-table");
        if (box) sortTable(box);
      }
    const P = window.Plotly;
    if (!P || !p.figures) return;
    wrap(P);
    for (const [key, [hash, fig]] of Object.entries(p.figures)) {
      const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
      if (!gd || !gd._fullLayout || gd.__liveHash === hash) continue;
      const owner = document.querySelector(`[data-live-feed][data-live-run="${p.run}"]`);
      if (!owner) continue;
      gd.__liveFig = fig;
      gd.__liveHash = hash;
      feed.mine = true;
      try {
        // one figure object, as Streamlit passes it (pages/_plotly.py's keeper expects that)
        Promise.resolve(P.react(gd, {data: fig.data, layout: merged(gd.layout, fig),
                                     config: gd._context})).catch(() => {});
      } finally { feed.mine = false; }
    }
  };
  const poll = async url => {
    const headers = feed.etags[url] ? {"If-None-Match": feed.etags[url]} : {};
    let reply;
    try {
      reply = await fetch(url, {headers, cache: "no-store", credentials: "same-origin"});
    } catch (error) { return; }
    if (reply.status === 200) {
      try { feed.payloads[url] = await reply.json(); } catch (error) { return; }
      feed.etags[url] = reply.headers.get("ETag");
    } else if (reply.status !== 304) {
      delete feed.etags[url];
      return;
    }
    const p = feed.payloads[url];
    if (p) applyParts(p);
  };
  const tick = async () => {
    try {
      if (!document.hidden) {
        const anchors = [...document.querySelectorAll("[data-live-feed]")];
        const covered = new Set(anchors.filter(a => a.dataset.liveCovers === "sidebar")
          .map(a => a.dataset.liveRun));
        const urls = new Set(anchors.filter(a => !(a.dataset.liveFeed.startsWith(
          "%(sidebar)s?") && covered.has(a.dataset.liveRun))).map(a => a.dataset.liveFeed));
        await Promise.all([...urls].map(poll));
      }
    } finally { setTimeout(tick, PERIOD); }
  };
  tick();
})();
""" % {"poll": POLL_MS, "sidebar": SIDEBAR_URL}


def script_html() -> str:
    """The style and the polling script (installs itself once per browser tab)."""
    return f"<style>{STYLE}</style><script>{SCRIPT}</script>"
