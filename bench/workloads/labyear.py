"""A workspace shaped like a lab's after a year: many small runs and a few huge sweeps.

Why generated, not checked in: issue 29's figure needs 1,000 runs and sweeps of 1,000 to
50,000 trials of 10 epochs (a 50,000-trial log is about 190 MB); and written through the
project's own writers (``RunDir.create``, ``TrialLogWriter``, ``RunDir.write_notes``, the
run's lock taken and given back), the same files a search leaves, so every reader, index and
page meets what it meets in a lab.
Nothing trains: scores follow the learning rate with noise, seeded, so two workspaces made
with the same arguments hold the same trials.

``python -m bench.workloads.labyear OUT --runs 1000 --sweeps 1000,10000`` makes one; tests
call :func:`make_workspace` with small sizes.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tuning_core.core.states import LogEvent, SearchEnd, TrialStatus
from tuning_core.data.dataset import ImageConfig, SplitConfig
from tuning_core.runs.locks import LockHolder
from tuning_core.runs.notes import RunNotes
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.runs.triallog import TrialLogWriter
from tuning_core.space.presets import get_preset

DAY_S = 86_400.0
TAGS = ("baseline", "augment", "pretrained", "ablation", "paper")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
FAILED_SHARE = 0.03  # trials that end in an error, as out-of-memory models do


@dataclass(frozen=True)
class Shape:
    """What to make: ``runs`` small runs of ``small_trials`` trials each, and one random
    sweep per entry of ``sweeps`` (its trial count), every trial of ``epochs`` epochs."""

    runs: int = 1000
    small_trials: int = 12
    sweeps: tuple[int, ...] = (1000, 10_000, 50_000)
    epochs: int = 10
    seed: int = 0


def _config(name: str, created: float, trials: int, epochs: int) -> RunConfig:
    tuner = TunerSettings(tuner="random", objective="val_accuracy", max_trials=trials,
                          epochs=epochs)  # the scores written are accuracies
    return RunConfig(data_dir="/data/flowers", space=get_preset("small"),
                     split=SplitConfig(seed=3), image=ImageConfig(64, "rgb"), tuner=tuner,
                     name=name, created=created, versions={"python": "3.11"})


def _hyperparameters(rng: np.random.Generator) -> dict[str, object]:
    return {"learning_rate": float(10 ** rng.uniform(-5, -1)),
            "optimizer": str(rng.choice(OPTIMIZERS)), "conv_blocks": int(rng.integers(1, 4)),
            "filters_0": int(rng.choice([16, 32, 64])),
            "dropout": round(float(rng.random()) / 2, 2),
            "dense_units": int(rng.choice([64, 128, 256])), "augment": bool(rng.random() < 0.5)}


def _final_accuracy(hps: dict[str, object], rng: np.random.Generator) -> float:
    """Best near a learning rate of 1e-3, a little better with more blocks, plus noise."""
    lr = float(hps["learning_rate"])  # type: ignore[arg-type]
    blocks = int(hps["conv_blocks"])  # type: ignore[call-overload]
    peak = 0.92 - 0.08 * abs(math.log10(lr) + 3) ** 1.5 + 0.01 * blocks
    return float(np.clip(peak + rng.normal(0, 0.03), 0.2, 0.99))


def write_trial(writer: TrialLogWriter, trial_id: str, number: int, epochs: int,
                rng: np.random.Generator) -> None:
    """One trial's lines as the tuner, its epoch callback and the cost measure write them."""
    hps = _hyperparameters(rng)
    writer.write(LogEvent.TRIAL_START, trial_id=trial_id, number=number, hyperparameters=hps)
    final = _final_accuracy(hps, rng)
    if rng.random() < FAILED_SHARE:
        writer.write(LogEvent.TRIAL_END, trial_id=trial_id, status=TrialStatus.FAILED.value,
                     score=None, seconds=1.0, error="ResourceExhaustedError: OOM (synthetic)")
        return
    for epoch in range(epochs):
        reach = 1 - math.exp(-3 * (epoch + 1) / epochs)
        val = 0.1 + (final - 0.1) * reach + float(rng.normal(0, 0.01))
        train = min(0.999, val + 0.05 * reach)
        writer.write(LogEvent.EPOCH_END, trial_id=trial_id, execution=0, epoch=epoch,
                     seconds=round(float(rng.uniform(2, 6)), 4),
                     metrics={"loss": -math.log(train), "accuracy": train,
                              "val_loss": -math.log(max(val, 0.01)), "val_accuracy": val,
                              "learning_rate": hps["learning_rate"]})
    writer.write(LogEvent.TRIAL_END, trial_id=trial_id, status=TrialStatus.COMPLETED.value,
                 score=final, seconds=round(float(rng.uniform(20, 60)), 3), error=None)
    params = int(2_000 * 4 ** int(hps["conv_blocks"]) * int(hps["filters_0"]))  # type: ignore[call-overload]
    writer.write(LogEvent.TRIAL_COST, trial_id=trial_id, params=params, macs=params * 60,
                 model_bytes=params * 4, latency_ms=round(params / 2e5 * rng.uniform(0.8, 1.3), 3))


def write_run(runs_dir: Path, name: str, created: float, trials: int, epochs: int,
              rng: np.random.Generator, ended: bool = True) -> RunDir:
    """One run folder with ``trials`` trials; its search ended (finished) unless ``ended``
    is False (then it shows interrupted: no one holds it)."""
    run = RunDir.create(runs_dir, _config(name, created, trials, epochs))
    lock = run.lock()  # held while it logs, as a search holds it: its lock file stays after
    lock.acquire(LockHolder.mine("search", target=run.name))
    try:
        writer = run.log_writer()
        writer.write(LogEvent.SEARCH_START, tuner="random", max_trials=trials, resumed=False)
        for i in range(trials):
            write_trial(writer, f"{i:05d}", i + 1, epochs, rng)
        if ended:
            writer.write(LogEvent.SEARCH_END, status=SearchEnd.FINISHED.value, message="")
    finally:
        lock.release()
    return run


def make_workspace(root: str | Path, shape: Shape = Shape(), now: float | None = None
                   ) -> dict[str, Path]:
    """A workspace at ``root`` (its ``runs/`` made here) of ``shape``; the sweeps' folders by
    name (``sweep-1000``...). Each small run is a day older than the next; a tenth carry
    tags and a note, a twentieth never ended."""
    runs_dir = Path(root) / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    rng, now = np.random.default_rng(shape.seed), time.time() if now is None else now
    for i in range(shape.runs):
        run = write_run(runs_dir, f"run {i}", now - (shape.runs - i) * DAY_S / 3,
                        int(rng.integers(1, shape.small_trials + 1)), shape.epochs, rng,
                        ended=i % 20 != 7)
        if i % 10 == 3:
            run.write_notes(replace(RunNotes(), name=f"flowers try {i}", notes="synthetic",
                                    tags=(TAGS[i % len(TAGS)],)))
    return {f"sweep-{n}": write_run(runs_dir, f"sweep {n}", now - k, n, shape.epochs, rng).path
            for k, n in enumerate(shape.sweeps)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--runs", type=int, default=Shape.runs)
    parser.add_argument("--sweeps", default=",".join(map(str, Shape.sweeps)))
    parser.add_argument("--epochs", type=int, default=Shape.epochs)
    args = parser.parse_args(argv)
    sweeps = tuple(int(n) for n in args.sweeps.split(",") if n)
    started = time.perf_counter()
    made = make_workspace(args.root, Shape(runs=args.runs, sweeps=sweeps, epochs=args.epochs))
    print(f"{args.runs} runs and sweeps {sweeps} in {time.perf_counter() - started:.1f} s:")
    for name, path in made.items():
        print(f"  {name}: {path}")


if __name__ == "__main__":
    main()
