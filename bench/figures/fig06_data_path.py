"""Figure 6: the Monitor page's data path on a large log (1,000 trials x 20 epochs).

Cold: a new reader polls the whole log, builds both tables, every Monitor figure
(objective, learning curves, parallel coordinates) and the importance chart with its
random forest. Idle: one poll when nothing was appended, plus the tables a page asks for.

The log is written where ``RunDir.log_path`` says a run's log lives; each load makes a
``TrialLogReader`` of its own rather than ``RunDir.reader()``, which is shared and kept for
the process, so a second load through it would not be cold.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bench.harness.common import OUT, FigureResult, fresh_dir, median
from tuning_core.analysis import charts
from tuning_core.analysis.importance import hp_importance
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.triallog import TrialLogReader

GOAL = "cold read + every Monitor figure < 0.5 s; idle poll < 5 ms"
FULL = {"trials": 1000, "epochs": 20, "repeats": 9, "polls": 200}
QUICK = {"trials": 1000, "epochs": 20, "repeats": 2, "polls": 50}


def _trial_lines(rng: np.random.Generator, k: int, epochs: int, t: float) -> list[dict]:
    hps = {"conv_blocks": int(rng.integers(1, 4)), "conv_0_filters": int(rng.choice([32, 64, 128])),
           "conv_0_kernel_size": int(rng.choice([3, 5])),
           "conv_0_activation": str(rng.choice(["relu", "tanh"])),
           "conv_0_batch_norm": bool(rng.integers(2)),
           "conv_0_dropout": float(rng.integers(6) / 10),
           "dense_0_units": int(rng.choice([64, 128, 256])),
           "learning_rate": float(10 ** rng.uniform(-4, -2)), "batch_size": 32}
    tid = f"{k:04d}"
    lines = [{"event": "trial_start", "time": t, "trial_id": tid, "number": k + 1,
              "hyperparameters": hps}]
    acc = 0.5 + 0.45 * rng.random()
    for e in range(epochs):
        grow = 1 - np.exp(-(e + 1) / 4)
        m = {"loss": 2 * (1 - grow) + 0.1, "accuracy": acc * grow,
             "val_loss": 2.1 * (1 - grow) + 0.15, "val_accuracy": acc * grow * 0.98,
             "learning_rate": hps["learning_rate"]}
        lines.append({"event": "epoch_end", "time": t + e, "trial_id": tid, "execution": 0,
                      "epoch": e, "seconds": 1.0, "metrics": m})
    lines.append({"event": "trial_end", "time": t + epochs, "trial_id": tid, "status": "completed",
                  "score": acc * 0.98, "seconds": float(epochs), "error": None})
    return lines


def write_log(path: Path, trials: int, epochs: int, seed: int = 0) -> int:
    """A synthetic but well-formed trial log; returns its size in bytes."""
    rng = np.random.default_rng(seed)
    lines = [{"event": "search_start", "time": 0.0, "max_trials": trials, "tuner": "random"}]
    for k in range(trials):
        lines += _trial_lines(rng, k, epochs, 100.0 * k)
    lines.append({"event": "search_end", "time": 1e6, "status": "finished", "message": None})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path.stat().st_size


def cold(path: Path) -> dict[str, float]:
    """Seconds of each stage of a first page load."""
    t0 = time.perf_counter()
    reader = TrialLogReader(path)
    reader.poll()
    trials, epochs = reader.trials(), reader.epochs()
    t1 = time.perf_counter()
    charts.monitor_figures(trials, epochs, "val_accuracy")
    t2 = time.perf_counter()
    charts.importance_figure(hp_importance(trials))
    t3 = time.perf_counter()
    return {"read": t1 - t0, "figures": t2 - t1, "importance": t3 - t2, "total": t3 - t0}


def idle_poll(path: Path, polls: int) -> list[float]:
    """Seconds of a poll (nothing new) plus the two tables, as a live page tick asks."""
    reader = TrialLogReader(path)
    reader.poll()
    reader.trials(), reader.epochs()
    times = []
    for _ in range(polls):
        t = time.perf_counter()
        reader.poll()
        reader.trials(), reader.epochs()
        times.append(time.perf_counter() - t)
    return times


def measure(quick: bool) -> FigureResult:
    s = QUICK if quick else FULL
    path = RunDir(fresh_dir(OUT / "fig6")).log_path
    size = write_log(path, s["trials"], s["epochs"])
    cold(path)  # warm-up: imports and plotly's first figure
    runs = [cold(path) for _ in range(s["repeats"])]
    stage = {k: median([r[k] for r in runs]) for k in runs[0]}
    poll = median(idle_poll(path, s["polls"]))
    rows = [{"stage": k, "median ms": round(v * 1000, 1)} for k, v in stage.items()]
    rows.append({"stage": "idle poll + tables", "median ms": round(poll * 1000, 3)})
    notes = [f"{s['trials']} trials x {s['epochs']} epochs, {size / 2**20:.1f} MiB log; "
             f"{s['repeats']} cold loads and {s['polls']} idle polls, medians."]
    value = f"cold {stage['total']:.3f} s; idle poll {poll * 1000:.3f} ms"
    return FigureResult(6, "Dashboard data path", GOAL, value,
                        met=stage["total"] < 0.5 and poll < 0.005, rows=rows, notes=notes)
