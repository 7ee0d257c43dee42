"""The report of a run: one self-contained HTML file that opens offline in any browser.

Data (classes, counts per split, image size), search space and tuner, trials (objective
chart, the best trials' hyperparameters), the best model (learning curves, test metrics,
confusion matrix, per-class table, a few misclassified images inline), the exports' checks,
library versions and who launched the run. Charts are inline SVG (:mod:`.report_svg`),
images inline PNG: nothing is fetched when it opens.
"""

from __future__ import annotations

import base64
import io
import json
import time
from html import escape
from importlib import metadata
from pathlib import Path
from typing import Any

from tuning_core.analysis.margin import Accuracy, evaluation_accuracy
from tuning_core.core import atomic, diskspace
from tuning_core.core.errors import TuningError
from tuning_core.lab.actor import Actor
from tuning_core.lab.permissions import Action
from tuning_core.model.best import load_evaluation, load_history, load_hyperparameters
from tuning_core.model.report_svg import confusion_table, line_chart
from tuning_core.runs.rundir import RunDir

__all__ = ["report_html", "write_report", "download_report", "data_changes", "MISCLASSIFIED_SHOWN",
           "BEST_TRIALS_SHOWN"]

MISCLASSIFIED_SHOWN = 8
BEST_TRIALS_SHOWN = 5
THUMBNAIL = 96
EXPORT_LIBRARIES = ("onnx", "onnxruntime", "tf2onnx", "ai-edge-litert")
_STYLE = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;font-size:14px}h2{border-bottom:1px solid #ddd;margin-top:1.6em}
svg text{font-size:12px;fill:#333}svg .title{font-weight:bold}.empty{color:#777}
figure{display:inline-block;margin:4px;text-align:center;font-size:12px}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}
figure img{width:96px;height:96px;object-fit:contain;image-rendering:pixelated}"""


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p class='empty'>None.</p>"
    head = "".join(f"<th>{escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(v))}</td>" for v in r.values()) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return "" if value is None else str(value)


def _data_section(run: RunDir) -> str:
    config, split = run.config(), run.load_split() or {}
    classes = split.get("classes", [])
    counts = [{"class": c, **{part: sum(1 for _, label in split.get(part, []) if label == i)
                              for part in ("train", "val", "test")}}
              for i, c in enumerate(classes)]
    s = config.split
    return (f"<h2>Data</h2><p>Folder {escape(split.get('root', config.data_dir))}: "
            f"{len(classes)} classes, images resized to {config.image.image_size}×"
            f"{config.image.image_size} {escape(config.image.color_mode)}. Split "
            f"{s.train:.0%} / {s.val:.0%} / {s.test:.0%} (seed {s.seed}); trials trained on "
            f"{s.subset:.0%} of the training images.</p>" + _table(counts)
            + "".join(f"<p class='changed'>{escape(line)}</p>" for line in data_changes(run)))


def data_changes(run: RunDir) -> list[str]:
    """What the report says about the data folder edited under the run (issue 27): how it
    differs now from the split, and what the last resume and the retrain went on with."""
    from tuning_core.search.lifecycle import folder_changes

    lines = []
    try:
        now = folder_changes(run).summary()
    except (OSError, TuningError, ValueError, KeyError) as error:  # a split that cannot be read
        now = f"the data folder could not be compared with the split: {error}"
    if now:
        lines.append(f"The folder now: {now}.")
    resumed = ((run.reader().last_start or {}).get("data_changes") or {}).get("summary")
    if resumed:
        lines.append(f"At the last resume: {resumed}")
    retrained = ((load_evaluation(run.path) or {}).get("data_changes") or {}).get("summary")
    if retrained:
        lines.append(f"At the retrain: {retrained}")
    return lines


def _space_section(run: RunDir) -> str:
    config = run.config()
    tuner = [{"setting": k, "value": v} for k, v in config.tuner.to_dict().items()]
    return ("<h2>Search space and tuner</h2>" + _table(tuner)
            + "<h3>Hyperparameters</h3>" + _table(_hyperparameter_rows(run))
            + "<details><summary>The search space as JSON</summary><pre>"
            + escape(json.dumps(config.space.to_dict(), indent=1)) + "</pre></details>")


def _hyperparameter_rows(run: RunDir) -> list[dict[str, Any]]:
    """Each hyperparameter the oracle knows: its kind, values or range, and conditions."""
    try:
        oracle = json.loads((run.project_dir / "oracle.json").read_text())
        space = oracle["hyperparameters"]["space"]
    except (OSError, ValueError, KeyError):
        return []
    rows = []
    for hp in space:
        c = hp["config"]
        values = c.get("values") or ([c["min_value"], c["max_value"]] if "min_value" in c
                                     else [c.get("value", "true/false")])
        when = "; ".join(_condition(k) for k in c.get("conditions", []))
        rows.append({"name": c["name"], "kind": hp["class_name"],
                     "values": ", ".join(str(v) for v in values)
                     + (f" ({c['sampling']})" if c.get("sampling") not in (None, "linear") else ""),
                     "active when": when})
    return rows


def _condition(condition: dict[str, Any]) -> str:
    c = condition.get("config", {})
    return f"{c.get('name')} in {c.get('values')}"


def _trials_section(run: RunDir) -> str:
    config, trials = run.config(), run.reader().trials()
    objective = config.tuner.objective
    if trials.empty:
        return "<h2>Trials</h2><p class='empty'>No trial yet.</p>"
    ended = trials[trials["score"].notna()].sort_values("number")
    scores = list(ended["score"].astype(float))
    best_so_far = config.tuner.direction.best_so_far(scores)
    chart = line_chart(f"{objective} per trial", {objective: scores, "best so far": best_so_far},
                       "trial (in order of ending)", markers=True)
    best = run.best_trials()[:BEST_TRIALS_SHOWN]
    picked = [trials[trials["trial_id"] == t.trial_id].iloc[0] for t in best]
    # one row per hyperparameter, one column per trial: a few trials, many hyperparameters
    rows = [{"": objective, **{f"#{t.rank} (trial {t.number})": t.score for t in best}}]
    rows += [{"": c[3:], **{f"#{t.rank} (trial {t.number})": row[c]
                            for t, row in zip(best, picked, strict=True)}}
             for c in trials.columns if c.startswith("hp:")
             and any(row[c] == row[c] for row in picked)]
    counts = trials["status"].value_counts().to_dict()
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    return (f"<h2>Trials</h2><p>{len(trials)} trials: {escape(summary)}.</p>{chart}"
            f"<h3>The best {len(best)} trials</h3>" + _table(rows))


def _best_section(run: RunDir, actor: Actor) -> str:
    evaluation = load_evaluation(run.path)
    if evaluation is None:
        return "<h2>Best model</h2><p class='empty'>Not retrained yet.</p>"
    source = load_hyperparameters(run.path) or {}
    history = load_history(run.path) or {}
    curves = "".join(line_chart(title, {k: history.get(k, []) for k in keys}, "epoch")
                     for title, keys in (("Loss", ("loss", "val_loss")),
                                         ("Accuracy", ("accuracy", "val_accuracy"))))
    per_class = [{**{k: row[k] for k in ("class", "precision", "recall", "f1", "support")},
                  "recall 95% interval": _recall_interval(row)}
                 for row in evaluation["per_class"]]
    accuracy = evaluation_accuracy(evaluation)
    margin = ("" if accuracy is None else
              " (95% interval {:.4f}–{:.4f})".format(*accuracy.interval))
    return (f"<h2>Best model</h2><p>Retrained from trial {escape(str(source.get('number')))} "
            f"(rank #{escape(str(source.get('rank')))}). Test accuracy "
            f"<b>{evaluation['test_accuracy']:.4f}</b>{margin}, test loss "
            f"{evaluation['test_loss']:.4f} on {evaluation['test_images']} test images.</p>"
            + curves + "<h3>Confusion matrix</h3>"
            + confusion_table(evaluation["confusion_matrix"], evaluation["classes"])
            + "<h3>Per class</h3>" + _table(per_class)
            + _misclassified(run, evaluation["misclassified"], actor))


def _recall_interval(row: dict[str, Any]) -> str:
    """A class's recall with the margin its few test images leave."""
    if not row.get("support"):
        return "–"
    low, high = Accuracy.of(float(row["recall"]), int(row["support"])).interval
    return f"{low:.2f}–{high:.2f}"


def _misclassified(run: RunDir, items: list[dict[str, Any]], actor: Actor) -> str:
    root = Path((run.load_split() or {}).get("root", run.config().data_dir))
    figures = []
    for item in items[:MISCLASSIFIED_SHOWN]:
        image = _thumbnail(root / item["path"], actor)
        if image:
            figures.append(f"<figure><img alt='{escape(item['path'])}' src='{image}'>"
                           f"<figcaption>true {escape(item['true'])} → "
                           f"{escape(item['predicted'])} ({item['confidence']:.0%})"
                           "</figcaption></figure>")
    shown = f"{len(figures)} of {len(items)}" if items else "none"
    return f"<h3>Misclassified test images ({shown})</h3>" + "".join(figures)


def _thumbnail(path: Path, actor: Actor) -> str:
    """A data: URL of a small PNG of the image, "" when it may not or cannot be read."""
    from PIL import Image

    try:
        with Image.open(actor.data_file(path)) as image:
            image.thumbnail((THUMBNAIL, THUMBNAIL))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="PNG")
    except (OSError, TuningError):
        return ""
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _exports_section(run: RunDir) -> str:
    from tuning_core.model.exports import current_exports

    try:
        records = current_exports(run.path)
    except TuningError as error:
        return f"<h2>Exports</h2><p class='empty'>{escape(str(error))}</p>"
    rows = [{"format": r.label, "runtime": r.runtime, "check": "passed" if r.passed else
             f"failed: {r.reason}", "size (MB)": round(r.bytes / 1e6, 3) if r.bytes else None,
             "max |diff|": r.agreement.max_abs_diff if r.agreement else None,
             "top-1 agreement": r.agreement.top1_agreement if r.agreement else None,
             "ms / image (batch 1, 1 thread)": r.ms_per_image, "input": r.input.describe(),
             "download (model, labels.txt, model.json, example)": r.bundle or None}
            for r in records]
    return "<h2>Exports</h2>" + (_table(rows) if rows else
                                 "<p class='empty'>No export of this best model yet.</p>")


def _versions_section(run: RunDir) -> str:
    config = run.config()
    rows = [{"library": k, "version": v} for k, v in config.versions.items()]
    for name in EXPORT_LIBRARIES:
        try:
            rows.append({"library": name, "version": metadata.version(name) + " (exports)"})
        except metadata.PackageNotFoundError:
            continue
    who = f"by {config.owner}" if config.owner else "in local mode (no lab login)"
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(config.created))
    return (f"<h2>Provenance</h2><p>Launched {escape(who)} on {created}.</p>"
            + _table(rows))


def report_html(run_dir: str | Path, actor: Actor | None = None) -> str:
    """The report's HTML text; RunError when the folder is not a run."""
    run, actor = RunDir(run_dir), actor or Actor()
    title = escape(run.display_name())
    sections = (_data_section(run), _space_section(run), _trials_section(run),
                _best_section(run, actor), _exports_section(run), _versions_section(run))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Report: "
            f"{title}</title><style>{_STYLE}</style></head><body><h1>{title}</h1>"
            f"<p>Run {escape(run.name)}, report written "
            f"{time.strftime('%Y-%m-%d %H:%M')}.</p>" + "".join(sections) + "</body></html>")


def write_report(run_dir: str | Path, output: str | Path | None = None,
                 actor: Actor | None = None) -> Path:
    """Write the report (default ``exports/report.html``) and return its path."""
    run, actor = RunDir(run_dir), actor or Actor()
    actor.check(Action.REPORT, target=run.name)
    path = Path(output) if output else run.report_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with diskspace.said_as_full(path.parent, "the report"):
        atomic.write_text(path, report_html(run.path, actor))
    actor.record(Action.REPORT, target=run.name, detail=f"report {path.name}")
    return path


def download_report(run_dir: str | Path, actor: Actor | None = None) -> str:
    """The report's HTML for a download; recorded in lab mode's audit log."""
    run, actor = RunDir(run_dir), actor or Actor()
    actor.check(Action.DOWNLOAD, target=run.name)
    text = report_html(run.path, actor)
    actor.record(Action.DOWNLOAD, target=run.name, detail="report")
    return text
