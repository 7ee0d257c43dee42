"""Figure 13: choosing by cost and checking the data (issue 19).

Cost: a random search on the digits through the job registry, as the pages launch it, with
each completed trial's cost measured right after the trial (its model rebuilt from the
hyperparameters: parameters, multiply-adds, saved size, CPU ms at batch 1). What measuring
took (each ``trial_cost`` event's ``measure_s``) is set against the search's wall time; one
trial is measured three times more, to show how much the latency moves on a busy machine
and that the multiply-adds do not.

Label errors: the benchmark's noisy digits (10% of the training images moved to a wrong
class folder; file names keep the true digit), a short search, then the data health check
(cross-validated fits of the best trial's architecture, cleanlab's confident learning).
Its precision and recall against the moved files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness.common import OUT, FigureResult, fresh_dir, median

GOAL = ("measuring costs adds <= 5% to the search's time; label errors found with "
        "precision and recall >= 0.5 on the 10% noisy digits")
MAX_SHARE, MIN_PRECISION, MIN_RECALL = 0.05, 0.5, 0.5


@dataclass(frozen=True)
class Scale:
    trials: int
    epochs: int
    noisy_trials: int
    noisy_epochs: int
    folds: int
    fit_epochs: int
    remeasure: int


FULL = Scale(trials=8, epochs=4, noisy_trials=3, noisy_epochs=4, folds=3, fit_epochs=6,
             remeasure=3)
QUICK = Scale(trials=2, epochs=1, noisy_trials=1, noisy_epochs=1, folds=2, fit_epochs=1,
              remeasure=1)


def search(data: Path, runs: Path, trials: int, epochs: int) -> tuple[Path, float]:
    """A random search through the job registry (the pages' path); (run folder, seconds)."""
    from tuning_core.data.dataset import ImageConfig
    from tuning_core.jobs.registry import JobRegistry
    from tuning_core.runs.schema import RunConfig, TunerSettings
    from tuning_core.space.presets import get_preset

    config = RunConfig(data_dir=str(data), space=get_preset("small"), name="fig13",
                       image=ImageConfig(32, "grayscale"),
                       tuner=TunerSettings(tuner="random", max_trials=trials, epochs=epochs,
                                           patience=0))
    registry = JobRegistry(runs)
    started = time.perf_counter()
    run_dir = registry.start_search(config)
    registry.wait()
    return run_dir, time.perf_counter() - started


def cost_rows(run_dir: Path) -> list[dict[str, Any]]:
    """A row per completed trial: its seconds, what measuring took, and the costs."""
    from tuning_core.runs.rundir import RunDir

    reader = RunDir(run_dir).reader()
    measured = {e["trial_id"]: e for e in reader.events()
                if e.get("event") == "trial_cost" and e.get("error") is None}
    rows = []
    for row in reader.trials().itertuples():
        cost = measured.get(str(row.trial_id))
        if row.status == "completed" and cost is not None:
            rows.append({"trial": int(row.number), "trial_s": round(float(row.seconds), 2),
                         "measure_s": round(float(cost["measure_s"]), 3),
                         "latency_ms": round(float(cost["latency_ms"]), 3),
                         "params": int(cost["params"]), "macs": int(cost["macs"]),
                         "model_kb": round(cost["model_bytes"] / 1024, 1)})
    return rows


def measuring_share(rows: list[dict[str, Any]], search_s: float) -> float:
    """What measuring took, as a share of the search's wall time."""
    return sum(r["measure_s"] for r in rows) / search_s if search_s > 0 else float("nan")


def remeasured(run_dir: Path, trial_id: str, times: int) -> list[dict[str, Any]]:
    """The same trial measured again ``times`` times (latency moves; multiply-adds do not)."""
    from tuning_core.search.cost import measure_trial

    return [{"latency_ms": round(c.latency_ms, 3), "macs": c.macs}
            for c in (measure_trial(run_dir, trial_id) for _ in range(times))]


def moved_files(train: Path) -> set[str]:
    """The files whose folder is not the digit their name starts with (the planted noise)."""
    return {p.relative_to(train).as_posix() for p in train.glob("*/*.png")
            if p.name.split("_")[0] != p.parent.name}


def label_check(train: Path, runs: Path, scale: Scale) -> dict[str, Any]:
    """Search the noisy digits, check their data; precision and recall of the label flags."""
    from tuning_core.model.health import FlagKind, check_run, precision_recall

    run_dir, search_s = search(train, runs, scale.noisy_trials, scale.noisy_epochs)
    report = check_run(run_dir, folds=scale.folds, epochs=scale.fit_epochs)
    flagged = {f.path for f in report.of_kind(FlagKind.LABEL)}
    truth = moved_files(train)
    precision, recall = precision_recall(flagged, truth)
    return {"images": report.images, "wrong": len(truth), "flagged": len(flagged),
            "precision": round(precision, 3), "recall": round(recall, 3),
            "search_s": round(search_s, 1), "check_s": report.seconds,
            "oos_accuracy": round(report.oos_accuracy, 3), "note": report.note,
            "leaks": len(report.of_kind(FlagKind.LEAK)),
            "duplicates": len(report.of_kind(FlagKind.DUPLICATE)),
            "outliers": len(report.of_kind(FlagKind.OUTLIER))}


def measure(quick: bool) -> FigureResult:
    from bench.workloads.datasets import prepare

    scale = QUICK if quick else FULL
    runs = fresh_dir(OUT / "fig13" / "runs")
    digits, _ = prepare("digits")
    run_dir, search_s = search(digits, runs, scale.trials, scale.epochs)
    rows = cost_rows(run_dir)
    share = measuring_share(rows, search_s)
    again = remeasured(run_dir, _first_trial(run_dir), scale.remeasure) if rows else []
    noisy, _ = prepare("imbalanced_noisy")
    labels = label_check(noisy, runs, scale)
    met = bool(rows) and share <= MAX_SHARE and labels["precision"] >= MIN_PRECISION \
        and labels["recall"] >= MIN_RECALL
    typical = median([r["measure_s"] for r in rows]) if rows else 0.0
    value = (f"measuring {share:.1%} of the search ({typical:.2f} s a trial); label errors "
             f"precision {labels['precision']:.2f}, recall {labels['recall']:.2f} "
             f"({labels['flagged']} flagged, {labels['wrong']} wrong)")
    latencies = [r["latency_ms"] for r in again]
    notes = [f"search of {len(rows)} completed trials took {search_s:.0f} s; measuring them "
             f"{sum(r['measure_s'] for r in rows):.1f} s in all.",
             f"one trial measured {len(again)} more time(s): latency {latencies} ms, "
             f"multiply-adds {sorted({r['macs'] for r in again})} (the stable axis).",
             f"noisy digits: {labels['images']} images checked in {labels['check_s']:.0f} s "
             f"after a {labels['search_s']:.0f} s search, out-of-sample accuracy "
             f"{labels['oos_accuracy']:.2f}; also {labels['leaks']} leak(s), "
             f"{labels['duplicates']} near-duplicate(s), {labels['outliers']} outlier(s) "
             "flagged." + (f" {labels['note']}" if labels["note"] else "")]
    return FigureResult(13, "Choosing by cost and checking the data", GOAL, value, met,
                        rows=rows, notes=notes)


def _first_trial(run_dir: Path) -> str:
    from tuning_core.runs.rundir import RunDir

    trials = RunDir(run_dir).reader().trials()
    return str(trials.loc[trials["status"] == "completed", "trial_id"].iloc[0])
