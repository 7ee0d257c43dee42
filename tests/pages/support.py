"""Support for the AppTest page tests (no tests here): a fresh app, hand-made runs on disk."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tuning_core.data.dataset import ImageConfig
from tuning_core.runs.catalogue import create_run
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.runs.triallog import TrialLogWriter
from tuning_core.space.presets import get_preset

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGES = {
    "pages/data.py": "Data", "pages/space.py": "Search space", "pages/search.py": "Search",
    "pages/monitor.py": "Monitor", "pages/best.py": "Best model", "pages/runs.py": "Runs",
    "pages/compare.py": "Compare",
}


def new_app() -> AppTest:
    """The dashboard under AppTest, with room for a TensorFlow import."""
    return AppTest.from_file(APP, default_timeout=120)


@pytest.fixture
def clean_caches(workspace: Path) -> Iterator[Path]:
    """An empty workspace and empty Streamlit caches (they outlive AppTest instances)."""
    st.cache_resource.clear()
    st.cache_data.clear()
    yield workspace
    st.cache_resource.clear()
    st.cache_data.clear()


def problems(at: AppTest) -> list[str]:
    """Exceptions shown by the app (an empty list when the page rendered cleanly)."""
    return [e.message for e in at.exception]


def click(at: AppTest, label: str) -> AppTest:
    """Click the button labelled ``label`` and run the script."""
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    return matches[0].click().run()


def plotly_specs(at: AppTest) -> list[dict]:
    """The Plotly figures on the page, as the browser would receive them."""
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


class _Text(HTMLParser):
    """Collects the text of an HTML fragment by element: metrics, table cells, paragraphs."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[str, str] = {}
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self.text: list[str] = []
        self.blocks: list[str] = []  # the text of each <p> and <div> with no block inside
        self._block: list[str] | None = None
        self._metric: str | None = None
        self._cell: list[str] | None = None
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self._in.append(found.get("class") or tag)
        if "data-metric" in found:
            self._metric = found["data-metric"]
        if tag == "tr" and "tbody" in self._in:
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = []
        if tag in ("p", "div"):
            self._block = []

    def handle_endtag(self, tag: str) -> None:
        if self._in:
            self._in.pop()
        if tag in ("p", "div") and self._block is not None:
            self.blocks.append(" ".join("".join(self._block).split()))
            self._block = None
        if tag in ("td", "th") and self._cell is not None:
            text, self._cell = "".join(self._cell), None
            (self.rows[-1] if tag == "td" else self.header).append(text)

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._block is not None:
            self._block.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._metric is not None and self._in and self._in[-1] == "live-value":
            self.metrics[self._metric] = data.strip()
            self._metric = None


def live_part(at: AppTest, name: str, sidebar: bool = False) -> _Text:
    """The live part ``name`` as first drawn (status, table, sidebar), parsed."""
    where = at.sidebar if sidebar else at.main
    marker = f'data-live-part="{name}"'
    bodies = [h.proto.body for h in where.get("html") if marker in h.proto.body]
    assert bodies, f"no live part {name!r} on the page"
    parsed = _Text()
    parsed.feed(bodies[0])
    return parsed


def live_text(at: AppTest, name: str, sidebar: bool = False) -> str:
    """The text of a live part, e.g. the sidebar's "running trial 2/3"."""
    return " ".join(" ".join(live_part(at, name, sidebar).text).split())


def live_table(at: AppTest) -> list[dict[str, str]]:
    """The Monitor's trial table, a dict per row by column title."""
    parsed = live_part(at, "table")
    return [dict(zip(parsed.header, row, strict=False)) for row in parsed.rows]


def make_run(runs_dir: Path, data_dir: Path, trials: int = 3, finished: bool = True,
             plan: dict | None = None) -> Path:
    """A run folder with a hand-written trial log (no training): ``trials`` completed trials;
    ``plan``: a time-budget plan as launched with one (planner.SearchPlan.to_dict())."""
    config = RunConfig(data_dir=str(data_dir), space=get_preset("small"),
                       image=ImageConfig(16, "rgb"), plan=plan,
                       tuner=TunerSettings(tuner="random", max_trials=trials + 1, epochs=2))
    run_dir = create_run(runs_dir, config)
    log = RunDir(run_dir).log_writer()
    log.write("search_start", max_trials=trials + 1, tuner="random")
    for i in range(trials):
        write_trial(log, i, score=0.5 + 0.1 * i)
    if finished:
        log.write("search_end", status="finished", message=None)
    return run_dir


def write_trial(log: TrialLogWriter, i: int, score: float | None, epochs: int = 2) -> None:
    """Start, epochs and (when ``score`` is given) end of trial ``i``."""
    hps = {"conv_blocks": 1 + i % 2, "optimizer": ["adam", "sgd"][i % 2],
           "learning_rate": 10 ** (-2 - i % 3), "augment_flip": bool(i % 2)}
    log.write("trial_start", trial_id=f"{i:02d}", number=i + 1, hyperparameters=hps)
    for epoch in range(epochs):
        metrics = {"loss": 1.0 / (epoch + 1), "accuracy": 0.5 + 0.1 * epoch,
                   "val_loss": 1.1 / (epoch + 1), "val_accuracy": 0.45 + 0.1 * epoch}
        log.write("epoch_end", trial_id=f"{i:02d}", execution=0, epoch=epoch, seconds=0.5,
                  metrics=metrics)
    if score is not None:
        log.write("trial_end", trial_id=f"{i:02d}", status="completed", score=score,
                  seconds=1.0 + i, error=None)


def write_best(run_dir: Path, data_dir: Path) -> None:
    """A best/ folder as a retrain leaves it (no model file: nothing to load in tests)."""
    best = RunDir(run_dir).best_dir
    best.mkdir()
    some_image = sorted((data_dir / "cats").iterdir())[0].relative_to(data_dir)
    evaluation: dict[str, Any] = {
        "test_loss": 0.4, "test_accuracy": 0.75, "test_images": 4, "classes": ["cats", "dogs"],
        "per_class": [{"class": c, "precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 2}
                      for c in ("cats", "dogs")],
        "confusion_matrix": [[2, 0], [1, 1]],
        "misclassified": [{"path": str(some_image), "true": "cats", "predicted": "dogs",
                           "confidence": 0.6}],
    }
    (best / "evaluation.json").write_text(json.dumps(evaluation))
    (best / "history.json").write_text(json.dumps({"loss": [1.0, 0.5], "val_loss": [1.1, 0.6],
                                                   "accuracy": [0.5, 0.7],
                                                   "val_accuracy": [0.4, 0.75]}))
    (best / "hyperparameters.json").write_text(json.dumps({"trial_id": "02", "number": 3,
                                                           "rank": 1, "values": {}}))


class FakeSearch:
    """Stands in for ``run_search``: writes one running trial, then waits until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, run_dir: Any) -> str:
        log = RunDir(run_dir).log_writer()
        log.write("search_start", max_trials=3, tuner="random")
        write_trial(log, 0, score=0.6)
        write_trial(log, 1, score=None, epochs=1)  # still running
        self.started.set()
        self.release.wait(60)
        log.write("trial_end", trial_id="01", status="stopped", score=None, seconds=1.0,
                  error=None)
        log.write("search_end", status="stopped", message=None)
        return "stopped"
