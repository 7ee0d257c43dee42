"""The same trials as an Optuna study, for Optuna Dashboard to show beside ours (figure 14).

Run by the Python of a venv of its own that has ``optuna`` (not this project's: the two
must not share packages): ``optuna-venv/bin/python bench/workloads/optuna_study.py
TRIALS.json STORAGE_URL NAME``. ``TRIALS.json`` holds, per trial, its hyperparameters, score
and per-epoch validation accuracy, as :func:`export_trials` writes them from a run folder;
the study is built with ``create_trial`` and ``add_trials`` (nothing runs an objective).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any


def export_trials(run_dir: Path, out: Path) -> int:
    """A run's completed trials as JSON for :func:`main`; how many. Runs in this project's
    venv (it reads the run through the run-folder object)."""
    from tuning_core.runs.rundir import RunDir

    reader = RunDir(run_dir).reader()
    trials, epochs = reader.trials(), reader.epochs()
    done = trials[trials["status"] == "completed"]
    curves = {str(t): g.sort_values("epoch")["val_accuracy"].tolist()
              for t, g in epochs.groupby("trial_id")}
    hp = [c for c in done.columns if c.startswith("hp:")]
    rows = [{"params": {c[3:]: _plain(row[c]) for c in hp}, "value": float(row["score"]),
             "curve": curves.get(str(row["trial_id"]), [])} for _, row in done.iterrows()]
    out.write_text(json.dumps(rows))
    return len(rows)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def main(argv: list[str]) -> None:
    import optuna  # type: ignore[import-not-found]  # only in the venv of its own
    from optuna.distributions import (  # type: ignore[import-not-found]
        CategoricalDistribution,
        FloatDistribution,
    )

    rows = json.loads(Path(argv[0]).read_text())
    choices: dict[str, set] = {}
    for row in rows:
        for name, value in row["params"].items():
            if not isinstance(value, float) or name in choices:
                choices.setdefault(name, set()).add(value)
    dists: dict[str, Any] = {}
    for name in rows[0]["params"]:
        if name in choices:
            dists[name] = CategoricalDistribution(sorted(choices[name], key=str))
        else:
            values = [r["params"][name] for r in rows]
            low, high = min(values), max(values)
            dists[name] = FloatDistribution(low, high if high > low else low + 1,
                                            log=low > 0 and high / low > 10)
    study = optuna.create_study(storage=argv[1], study_name=argv[2], direction="maximize")
    batch = [optuna.trial.create_trial(
        params=row["params"], distributions=dists, value=row["value"],
        intermediate_values={i: v for i, v in enumerate(row["curve"]) if math.isfinite(v)})
        for row in rows]
    for start in range(0, len(batch), 5000):
        study.add_trials(batch[start:start + 5000])
    print(len(batch))


if __name__ == "__main__":
    main(sys.argv[1:])
