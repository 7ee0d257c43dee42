"""The live feed's HTML: the Monitor's status and counts, its trial table, and the sidebar.

The page script draws these once (``pages/monitor.py``, ``pages/common/live.py``) and the feed
sends them again when they change (:mod:`tuning_core.live.answers`): one set of functions, so
both look alike. Every text from a file is escaped. No Streamlit here: the feed's routes
(``labweb/live.py``) use it outside any session.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from tuning_core.core import workspace
from tuning_core.core.errors import TuningError
from tuning_core.core.states import JobKind, RunStatus
from tuning_core.jobs.dispatcher import queued_registry
from tuning_core.jobs.records import JobState
from tuning_core.jobs.registry import Progress
from tuning_core.live import content as run_content
from tuning_core.live.cache import digest
from tuning_core.runs.catalogue import active_runs, launcher, summarize


def registry():
    """The process's job registry of the workspace (the one the pages use)."""
    return queued_registry(workspace.runs_dir())


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _metric(label: str, value: object) -> str:
    return (f'<div class="live-metric" data-metric="{esc(label)}"><div class="live-label">'
            f'{esc(label)}</div><div class="live-value">{esc(value)}</div></div>')


def status_html(content: run_content.MonitorContent, progress: Progress,
                pace: str | None) -> str:
    """The run's state line, counts by state, best score, and the run's notices."""
    out = [f'<p class="live-status"><b>{esc(content.run)}</b>: '
           f'{esc(state_words(progress))}</p>']
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
    if content.unknown:
        names = ", ".join(f"{name} ({count})" for name, count in content.unknown)
        out.append(f'<p class="live-caption">The trial log has events this version does not '
                   f'know: {esc(names)}. They are kept in the log (a newer version may have '
                   f'written them) and left out of these charts.</p>')
    return "".join(out)


def headline_html(run_dir: Path) -> str:
    """The run's headline from its index (state, trials done, best score), and that its
    trial log is being read: what the Monitor shows of a large run while this server reads
    its log for the first time (1.4 s at 10,000 trials), before the counts by state."""
    summary = summarize(run_dir, wait_for_size=False)
    best = "–" if summary.best_score is None else f"{summary.best_score:.4f}"
    return (f'<p class="live-status"><b>{esc(run_dir.name)}</b>: '
            f'{esc(summary.status.label)}</p><div class="live-metrics">'
            + _metric("Trials done", summary.trials_done)
            + _metric(f"Best {summary.objective}", best) + "</div>"
            '<p class="live-caption">Reading the trial log for the charts…</p>')


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




def table_html(table: pd.DataFrame, note: str | None = None) -> str:
    """The trial table; a click on a column header sorts by it (the script keeps the order).
    ``note`` says above it which rows it shows when not all."""
    if table.empty:
        return ""
    caption = f'<p class="live-caption">{esc(note)}</p>' if note else ""
    head = "".join(f'<th data-col="{i}" title="Sort">{esc(TABLE_TITLES.get(c, c))}</th>'
                   for i, c in enumerate(table.columns))
    rows = "".join("<tr>" + "".join(_cell(v, c) for v, c in zip(row, table.columns, strict=True))
                   + "</tr>" for row in table.astype(object).itertuples(index=False, name=None))
    return (f'{caption}<div class="live-table"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>")


def sidebar_html(run_dir: Path | None, progress: Progress | None = None) -> str:
    """The current run and its state, what else trains now, and who waits in the queue.
    ``progress``: the run's, when the caller has it already."""
    out = []
    if run_dir is None:
        out.append('<p class="live-caption">No run yet: design a search and launch it.</p>')
    else:
        launched_by = launcher(run_dir)
        out.append(f'<p class="live-caption">Current run'
                   f'{" · launched by " + esc(launched_by) if launched_by else ""}</p>')
        if progress is None and run_content.first_read_is_slow(run_dir):
            # its state from its index: every page draws the sidebar first, and would wait
            # for the log's first read (1.4 s at 10,000 trials); the feed has the rest soon
            words = summarize(run_dir, wait_for_size=False).status.label
            out.append(f'<p class="live-status"><b>{esc(run_dir.name)}</b><br>{esc(words)}</p>')
        else:
            progress = progress or registry().progress(run_dir)
            out += _progress_lines(run_dir, progress)
    for run, holder in active_runs(workspace.runs_dir()):
        if run_dir is None or run.path != Path(run_dir).resolve():
            out.append(f'<p class="live-caption">Training now: {esc(run.name)} '
                       f'({esc(holder.kind)}, {esc(holder.describe(run_content.LATE_HEARTBEAT_S))})'
                       '</p>')
    queue = queue_text()
    if queue:
        out.append(f'<p class="live-caption">{esc(queue)}</p>')
    return "".join(out)


def _progress_lines(run_dir: Path, progress: Progress) -> list[str]:
    out = [f'<p class="live-status"><b>{esc(run_dir.name)}</b><br>'
           f'{esc(state_words(progress))}</p>']
    if progress.kind is JobKind.SEARCH:
        out.append(f'<div class="live-progress"><div style="width:'
                   f'{100 * progress.fraction:.1f}%"></div></div><p class="live-caption">'
                   f'{esc(run_content.progress_text(progress))}</p>')
    if progress.state == RunStatus.FAILED and progress.message:
        out.append(f'<p class="live-caption">{esc(progress.message)}</p>')
    return out


def queue_position(run_dir: Path) -> int | None:
    """The place in the job queue of a job of ``run_dir`` that waits, or None."""
    dispatcher = registry().dispatcher
    if dispatcher is None:
        return None
    try:
        jobs = dispatcher.queue.jobs()
    except TuningError:
        return None
    mine = Path(run_dir).resolve()
    waiting = [job for job in jobs if job.state is not JobState.RUNNING]
    return next((i for i, job in enumerate(waiting, 1)
                 if Path(job.run_dir).resolve() == mine), None)


def state_words(progress: Progress) -> str:
    """The run's state in words, "queued (#2 ...)" for a job that waits for the machine."""
    if not progress.state.is_active():
        place = queue_position(progress.run_dir)
        if place is not None:
            return f"queued (#{place}): starts by itself when the machine is free"
    return run_content.describe(progress)


def queue_text() -> str | None:
    """"Queue: #1 run (alice) · #2 ..." for the waiting jobs, or None when none waits."""
    dispatcher = registry().dispatcher
    if dispatcher is None:
        return None
    try:
        waiting = [e for e in dispatcher.entries() if e.position is not None]
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
            f'data-live-hash="{digest(body)}">{body}</div>')


def anchor(url: str, run: str, covers_sidebar: bool = False) -> str:
    """Tells the page's script to poll ``url`` for the parts of ``run``. ``covers_sidebar``:
    the feed has the sidebar's part too (the Monitor's), so the sidebar's own is not polled."""
    extra = ' data-live-covers="sidebar"' if covers_sidebar else ""
    return f'<span data-live-feed="{esc(url)}" data-live-run="{esc(run)}"{extra}></span>'
