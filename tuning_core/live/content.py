"""What the live pages show of a run, built once per log position for every viewer.

A page that follows a run (Monitor, the sidebar) asks the server for this every second; ten
browsers on one run ask ten times a second. So everything here is computed once per new
log line (the reader's ``version``) and run, whoever asks, and handed out as the same
objects: the trial table, the counts, the best score, the figures. What depends on the clock
as well (the holder's heartbeat age, the pace against a plan) is cheap and recomputed.

Also the run's state in words ("running trial 3/20 · pid 12 on lab-1 ..."), so the pages,
the live feed and the CLI say it the same way.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import pandas as pd
import plotly.graph_objects as go
from plotly.io.json import to_json_plotly

from tuning_core.analysis import charts
from tuning_core.analysis.diagnose import run_chance_report
from tuning_core.analysis.importance import hp_columns, hp_importance, hp_name
from tuning_core.analysis.pareto_chart import DOMINATED_DRAWN, front_figure
from tuning_core.analysis.planner import SearchPlan, run_pace
from tuning_core.core import diskspace
from tuning_core.core.errors import TuningError
from tuning_core.core.states import JobKind, RunStatus, TrialStatus
from tuning_core.jobs.registry import Progress
from tuning_core.model.best import retrain_progress
from tuning_core.runs import ranking, readers, trialtable
from tuning_core.runs.locks import HEARTBEAT_S
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, objective_direction
from tuning_core.runs.triallog import COST_COLUMNS

STATES = trialtable.STATES
# a figure, or a plain {"data", "layout"} spec Plotly.js takes as is
Figure: TypeAlias = go.Figure | dict
T = TypeVar("T")


# --- the run's state in words ------------------------------------------------------------

def duration(seconds: float | None) -> str:
    """"1 h 02 min", "3 min 05 s", "12 s" or "unknown"."""
    if seconds is None:
        return "unknown"
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def describe(progress: Progress) -> str:
    """The run's state in words: idle, running trial k/N, retraining, stopped, finished, failed."""
    if progress.kind is JobKind.RETRAIN:
        done, planned, _ = retrain_progress(progress.run_dir)
        return f"retraining the best model (epoch {done}/{planned or '?'}){_by(progress)}"
    if progress.state == RunStatus.STOPPING:
        return f"stopping after the current batch{_by(progress)}"
    if progress.state == RunStatus.RUNNING:
        current = progress.current_trial or progress.trials_done + 1
        return f"running trial {current}/{planned_trials(progress)}{_by(progress)}"
    if progress.state == RunStatus.NEW:
        return "idle (no trial yet)"
    if progress.reason == diskspace.REASON:  # "disk full: 0.7 MB free on /data; free ..."
        return progress.message or diskspace.REASON
    return progress.state.label


LATE_HEARTBEAT_S = 2 * HEARTBEAT_S  # a holder writes one every HEARTBEAT_S


def _by(progress: Progress) -> str:
    """" · pid 12 on lab-1 (search, for alice)", the heartbeat's age only when it is late:
    a text that changes every second would make every viewer's page change every second."""
    return f" · {progress.holder.describe(LATE_HEARTBEAT_S)}" if progress.holder else ""


def planned_trials(progress: Progress) -> int | str:
    """N of "trial k/N": from the log once the search started, else from run.json."""
    if progress.max_trials:
        return progress.max_trials
    try:
        return RunDir(progress.run_dir).config().tuner.max_trials
    except TuningError:
        return "?"


SLOW_READ_BYTES = 4_000_000  # a log this large takes a first read of about 0.2 s or more


def first_read_is_slow(run_dir: Path) -> bool:
    """Whether showing the run needs its trial log read from the start, and the log is
    large: no reader of it in this process (a fresh server, or one that let it go),
    ``SLOW_READ_BYTES`` or more. The pages then draw the run's headline from its index first
    (:mod:`tuning_core.live.html`: ``headline_html``, the sidebar's run line)."""
    log = RunDir(run_dir).log_path
    try:
        size = log.stat().st_size
    except OSError:
        return False
    return size >= SLOW_READ_BYTES and log.resolve() not in readers.kept()


def progress_text(progress: Progress) -> str:
    """"3 of 10 trials done · about 2 min 10 s left"."""
    text = f"{progress.trials_done} of {planned_trials(progress)} trials done"
    if progress.eta_s is not None and progress.state.is_active():
        text += f" · about {duration(progress.eta_s)} left"
    return text


# --- the Monitor's content ---------------------------------------------------------------

def completed_count(trials: pd.DataFrame) -> int:
    """How many trials compete for best (the analyses are built again when it grows)."""
    return trialtable.scored_count(trials)


state_counts = trialtable.counts_by_state


def trial_table(trials: pd.DataFrame) -> pd.DataFrame:
    """The trial table for people: number, id, status, score, duration, epochs, error, the
    worker that ran it (distributed searches only), hps."""
    if trials.empty:
        return trials
    base = ["number", "trial_id", "status", "score", "seconds", "epochs", "error"]
    if "worker" in trials and trials["worker"].notna().any():
        base.insert(3, "worker")
    base += [c for c in COST_COLUMNS if c in trials]  # runs made before costs have none
    table = trials[base + hp_columns(trials)].rename(columns={c: hp_name(c)
                                                              for c in hp_columns(trials)})
    return table.sort_values("number", kind="stable")


LIVE_ROWS = 100  # rows of the live trial table at most: the best half, the newest half


def live_table(table: pd.DataFrame, objective: str) -> tuple[pd.DataFrame, str | None]:
    """The rows the live table shows, and a note when they are not all: past ``LIVE_ROWS``
    the best ``LIVE_ROWS // 2`` and the newest (running ones first among them), in trial order;
    the page lists every trial in pages below (:func:`tuning_core.runs.trialtable.table_page`).
    """
    if len(table) <= LIVE_ROWS:
        return table, None
    half = LIVE_ROWS // 2
    best = ranking.ranked_frame(table, objective_direction(objective)).index[:half]
    rest = table.drop(index=best)
    running = rest.index[rest["status"] == TrialStatus.RUNNING.value]
    newest = rest.drop(index=running).index[-(LIVE_ROWS - len(best) - len(running)):]
    shown = table.loc[table.index.isin(best.union(running).union(newest))]
    return shown, (f"The best {len(best)} and the newest {len(shown) - len(best)} of "
                   f"{len(table):,} trials; every trial is listed below, page by page.")


@dataclass(frozen=True, eq=False)
class MonitorContent:
    """What the Monitor shows of a run at one log position (shared by every viewer)."""

    run: str
    path: str  # the run folder, resolved: what the shared builds are keyed by
    version: Hashable
    objective: str
    counts: dict[str, int]
    best: float | None
    chance: str | None  # the warning when the completed trials sit at chance
    plan: str | None  # the plan of a run fitted to a time budget
    table: pd.DataFrame
    figures: Figures  # each built when first asked for
    unknown: tuple[tuple[str, int], ...] = ()  # log events this version does not know, counted

    @property
    def empty(self) -> bool:
        return self.table.empty

    @property
    def figure_keys(self) -> Mapping[str, Hashable]:
        """Each figure's key: the figure is the same while its key is (built once)."""
        return {name: self.figures.key(name) for name in self.figures}


class Memo:
    """A small thread-safe LRU of built things (the feed is served from a thread pool)."""

    def __init__(self, size: int) -> None:
        self._size, self._lock = size, threading.Lock()
        self._items: OrderedDict[Hashable, Any] = OrderedDict()  # each key's own kind of thing

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()  # outside the lock: two first askers may both build; both are right
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


class _Throttled:
    """The last value of each thing, rebuilt when its key changed, but at most every
    ``every_s``: for views that may lag a few seconds behind a fast search."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._items: dict[Hashable, tuple[float, Hashable, Any]] = {}
        self._lock = threading.Lock()

    def get(self, name: Hashable, key: Hashable, build: Callable[[], T]) -> tuple[Hashable, T]:
        """(the key the value was built for, the value)."""
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(name)
        if hit and (hit[1] == key or now - hit[0] < self.every_s):
            return hit[1], hit[2]
        value = build()
        with self._lock:
            if len(self._items) > 256:
                self._items.clear()
            self._items[name] = (now, key, value)
        return key, value


ANALYSIS_EVERY_S = 5.0  # parallel coordinates and importance: ~50 ms a build, a fit included
_CONTENT, _SLOW, _ANALYSIS = Memo(16), Memo(64), _Throttled(ANALYSIS_EVERY_S)


def _chance(run: RunDir, completed: int) -> str | None:
    """The chance warning, checked again only when another trial completes."""
    def build() -> str | None:
        report = run_chance_report(run)
        return report.describe() if report is not None else None
    return _SLOW.get(("chance", str(run.path), completed), build)


def trials_key(trials: pd.DataFrame) -> Hashable:
    """Changes when a trial starts or ends or gets a score, not with each epoch: a digest of
    the trials' ids, states and scores (hashed by pandas column-wise: tuples of their
    strings took 0.2 s at 50,000 trials, at every new log line of a live run)."""
    if trials.empty:
        return ()
    columns = trials[["trial_id", "status", "score"]].astype({"trial_id": str, "status": str})
    hashed = pd.util.hash_pandas_object(columns, index=False).to_numpy()
    return len(trials), hashlib.blake2b(hashed.tobytes(), digest_size=16).hexdigest()


class Figures(Mapping[str, "Figure"]):
    """The Monitor's figures at one log position by name, each built the first time it is
    asked for and kept (shared by every viewer of that position), with the key it was built
    for (:meth:`key`: the figure is the same while its key is).

    Why lazy: a first visit to a large run used to wait for every figure (a forest fitted,
    two fronts, parallel coordinates: about 1 s at 10,000 trials) before the page drew even
    its counts; now the page draws the counts, then builds each chart as it draws it."""

    def __init__(self, builders: dict[str, Callable[[], tuple[Hashable, Figure]]]) -> None:
        self._builders = builders
        self._built: dict[str, tuple[Hashable, Figure]] = {}
        self._locks = {name: threading.Lock() for name in builders}

    def entry(self, name: str) -> tuple[Hashable, Figure]:
        """(key, figure) of ``name``, built now if not yet. One build per figure: the page's
        script and the feed's first request ask for the same figures at once on a first
        visit, and two builds in two threads would take turns on the GIL, each as slow as
        both."""
        hit = self._built.get(name)
        if hit is None:
            with self._locks[name]:
                hit = self._built.get(name)
                if hit is None:
                    hit = self._built[name] = self._builders[name]()
        return hit

    def key(self, name: str) -> Hashable:
        return self.entry(name)[0]

    def ready(self) -> tuple[str, ...]:
        """The names of the figures built so far."""
        return tuple(name for name in self._builders if name in self._built)

    def __getitem__(self, name: str) -> Figure:
        return self.entry(name)[1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


def _figures(run: RunDir, version: Hashable, objective: str, trials: pd.DataFrame,
             epochs: pd.DataFrame, ended: Hashable) -> Figures:
    """The Monitor's figures, built when asked for (figure building is most of a new line's
    cost). Only the learning curves change with each epoch, the objective when a trial
    starts or ends (``ended``: :func:`trials_key`); the parallel coordinates and the
    importance (a forest is fitted) when another trial completes, at most every
    ``ANALYSIS_EVERY_S``; the fronts when a trial's cost is logged."""
    path = str(run.path)

    def slow(key: Hashable, memo_key: Hashable, build: Callable[[], Figure]
             ) -> Callable[[], tuple[Hashable, Figure]]:
        return lambda: (key, _SLOW.get(memo_key, build))

    def analysis(name: Hashable, build: Callable[[], Figure]
                 ) -> Callable[[], tuple[Hashable, Figure]]:
        return lambda: _ANALYSIS.get(name, completed_count(trials), build)

    builders = {
        "objective": slow(ended, ("objective", path, objective, ended),
                          lambda: charts.objective_figure(trials, objective)),
        "learning_curves": slow(version, ("curves", path, objective, version),
                                lambda: _curves(trials, epochs, objective)),
        "parallel": analysis(("parallel", path, objective),
                             lambda: charts.parallel_figure(trials, objective)),
        "importance": analysis(("importance", path),
                               lambda: charts.importance_figure(
                                   hp_importance(trials, store=run.importance_path)))}
    costed = (ended, costs_key(trials))
    for axis in PARETO_AXES:  # a trial's cost comes just after its end
        builders["pareto_" + axis] = slow(
            costed, ("pareto", axis, path, objective, costed),
            partial(front_figure, trials, run.direction, objective, axis))
    return Figures(builders)


PARETO_AXES = ("latency", "params")
# completed trials up to which the Monitor draws its two cost charts with the page; past
# them each chart would show a sample of the dominated trials, and they are drawn when asked
# for (the Best model page draws the run's whole front, on the axis chosen, to retrain from)
COST_CHARTS_AT_ONCE = DOMINATED_DRAWN


def cost_charts_on_request(content: MonitorContent) -> bool:
    """Whether the Monitor draws the run's cost charts only when asked (past
    ``COST_CHARTS_AT_ONCE`` completed trials): two charts of six fewer for the browser to
    draw at each visit of a large run (a quarter of the six charts' drawing time)."""
    return content.counts.get(TrialStatus.COMPLETED.value, 0) > COST_CHARTS_AT_ONCE


def costs_key(trials: pd.DataFrame) -> Hashable:
    """Changes when another trial's cost is logged."""
    return int(trials["latency_ms"].notna().sum()) if "latency_ms" in trials else 0


def _curves(trials: pd.DataFrame, epochs: pd.DataFrame, objective: str) -> Figure:
    """The learning curves, a plain spec once there are epochs (rebuilt at every epoch; a
    Figure before, as Streamlit refuses a plain spec without data)."""
    if epochs.empty or "epoch" not in epochs:
        return charts.learning_curves_figure(trials, epochs, objective)
    return charts.learning_curves_spec(trials, epochs, objective)


def monitor_content(run_dir: str | Path) -> MonitorContent:
    """The Monitor's content of a run now: built once per new log line, whoever asks."""
    run = RunDir(run_dir)
    version, trials, epochs = run.reader().snapshot()  # one log position (see snapshot)
    config = run.config()
    key = (str(run.path), version, config.tuner.objective)
    return _CONTENT.get(key, lambda: _build(run, key[1], config, trials, epochs))


def _build(run: RunDir, version: Hashable, config: RunConfig, trials: pd.DataFrame,
           epochs: pd.DataFrame) -> MonitorContent:
    completed, objective = completed_count(trials), config.tuner.objective
    ended = trials_key(trials)
    figures = _figures(run, version, objective, trials, epochs, ended)
    ranked = _SLOW.get(("best", str(run.path), ended),  # trials that ended
                       lambda: run.best_trials() if not trials.empty else [])
    plan = SearchPlan.from_dict(config.plan)
    return MonitorContent(
        run=run.name, path=str(run.path), version=version, objective=objective,
        counts=state_counts(trials),
        best=ranked[0].score if ranked else None,
        chance=_chance(run, completed) if not trials.empty else None,
        plan=plan.describe() if plan is not None else None,
        table=trial_table(trials), figures=figures,
        unknown=tuple(sorted(run.reader().unknown.items())))


def pace_text(run_dir: str | Path) -> str | None:
    """A fitted run's measured pace against its plan, in words (None when there is none)."""
    report = run_pace(RunDir(run_dir))
    return report.describe() if report is not None else None


def figure_json(figure: Figure) -> str:
    """A figure as JSON for Plotly.js, without its template: the page keeps the theme the
    chart was first drawn with (Streamlit's), and the template is most of a small figure's
    bytes."""
    spec = figure if isinstance(figure, dict) else figure.to_plotly_json()
    layout = {k: v for k, v in spec.get("layout", {}).items() if k != "template"}
    return to_json_plotly({"data": spec.get("data", []), "layout": layout})
