"""Figure 1: time to a good model, the anchor workflow against the dashboard's defaults.

On every dataset of :mod:`bench.workloads.datasets` (digits, RGB JPEG digits, photo patches,
imbalanced digits with label noise), both tools get the same 85%; the other 15% (stratified,
clean) is held out and scores both final models. Wall time runs from launch (scan, for ours)
to a retrained, test-evaluated best model. Each tool runs in its own process; each repeat
runs the anchor and then ours, so every time ratio compares two runs made minutes apart.

    python -m bench.figures.fig01_time_to_model --data DIR --holdout DIR --runs DIR
        [--retrain-epochs N] [--overrides JSON]

runs our side alone through the job registry and prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness.common import OUT, FigureResult, fresh_dir, labelled_files, median
from bench.workloads.datasets import DATASETS, prepare
from tuning_core.analysis.margin import Accuracy, Difference

GOAL = ("on every dataset, median held-out accuracy >= the anchor's, in <= 0.5x its wall "
        "time (median of the per-repeat ratios)")
MAX_RATIO = 0.5
RETRAIN_EPOCHS = 30  # the Best page's default


@dataclass(frozen=True)
class Scale:
    """How much figure 1 runs: the anchor's trials and epochs, repeats, our retrain, datasets."""

    trials: int
    epochs: int
    repeats: int
    retrain: int
    datasets: tuple[str, ...]


# Full: 4 datasets x 5 repeats x (anchor ~100 s + ours) fits in about 45 minutes on 2 cores.
FULL = Scale(trials=10, epochs=10, repeats=5, retrain=RETRAIN_EPOCHS, datasets=tuple(DATASETS))
# Quick: every dataset once, at 2 trials x 2 epochs (about 2 minutes: each builder is tried
# through both tools).
QUICK = Scale(trials=2, epochs=2, repeats=1, retrain=2, datasets=tuple(DATASETS))

# Defaults proposed to the lead (TunerSettings fields), run beside the current ones until
# adopted; a field already at the proposed value is left out (val_loss: adopted in 05ed039).
PROPOSED: dict[str, Any] = {"objective": "val_loss"}


def default_config(data_dir: Path, **tuner: Any):
    """The RunConfig the pages build when the user changes nothing.

    ``tuner`` overrides TunerSettings fields, and also takes ``preset`` (a name), ``space``
    (a SearchSpace dict), ``image_size`` and ``split`` (SplitConfig fields).
    """
    from tuning_core.data.dataset import ImageConfig, SplitConfig, scan
    from tuning_core.runs.schema import RunConfig, TunerSettings
    from tuning_core.space.presets import DEFAULT_PRESET, get_preset
    from tuning_core.space.schema import SearchSpace

    summary = scan(data_dir)
    image = ImageConfig(summary.suggested_image_size(), summary.suggested_color_mode())
    split = SplitConfig(**tuner.pop("split", {}))
    space = get_preset(tuner.pop("preset", DEFAULT_PRESET))
    if "space" in tuner:
        space = SearchSpace.from_dict(tuner.pop("space"))
    if "image_size" in tuner:
        image = ImageConfig(tuner.pop("image_size"), image.color_mode)
    return RunConfig(data_dir=summary.root, space=space, split=split, image=image,
                     tuner=TunerSettings(**tuner), name="bench")


def holdout_accuracy(run_dir: Path, holdout: Path) -> float | None:
    """Accuracy of a run's saved best model on the held-out folder."""
    import keras

    from tuning_core.data.dataset import ImageCache
    from tuning_core.runs.rundir import RunDir

    config = RunDir(run_dir).config()
    if not RunDir(run_dir).model_path.is_file():
        return None  # the retrain was refused (far worse than its trial) and none was kept
    items, classes = labelled_files(holdout)
    images, labels = ImageCache(holdout, items, len(classes), config.image).arrays()
    model = keras.models.load_model(RunDir(run_dir).model_path)
    predicted = model.predict(images.astype("float32"), batch_size=256, verbose=0).argmax(1)
    return float((predicted == labels).mean())


def run_ours(data: Path, holdout: Path, runs: Path, retrain_epochs: int,
             overrides: dict[str, Any]) -> dict[str, Any]:
    """Launch, search, retrain and test through the job registry, as the pages do."""
    from tuning_core.jobs.registry import JobRegistry
    from tuning_core.model.best import load_evaluation
    from tuning_core.runs.rundir import RunDir

    started = time.perf_counter()
    registry = JobRegistry(runs)
    config = default_config(data, **dict(overrides))
    run_dir = registry.start_search(config)
    registry.wait()
    searched = time.perf_counter()
    registry.start_retrain(run_dir, epochs=retrain_epochs)
    registry.wait()
    ended = time.perf_counter()
    evaluation = load_evaluation(run_dir) or {}
    trials = RunDir(run_dir).reader().trials()
    return {"wall_s": ended - started, "search_s": searched - started,
            "retrain_s": ended - searched, "test_accuracy": evaluation.get("test_accuracy"),
            "holdout_accuracy": holdout_accuracy(run_dir, holdout),
            "trials": len(trials), "epochs": int(trials["epochs"].sum()) if len(trials) else 0,
            "classes": len(labelled_files(holdout)[1]),
            "settings": config.tuner.to_dict(), "image": config.image.to_dict(),
            "run_dir": str(run_dir), "error": registry.last_error(run_dir)}


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def scaled_overrides(trials: int, epochs: int) -> dict[str, Any]:
    """Our defaults scaled as the anchor is scaled from its 10 trials x 10 epochs."""
    from tuning_core.runs.schema import TunerSettings

    base = TunerSettings()
    if (trials, epochs) == (10, 10):
        return {}
    return {"max_trials": max(2, round(base.max_trials * trials / 10)),
            "epochs": max(1, round(base.epochs * epochs / 10))}


def _anchor(train: Path, holdout: Path, scale: Scale, work: Path) -> dict:
    """The anchor at the dataset's native size (its own default)."""
    return _child(["-m", "bench.workloads.anchor", "--data", str(train), "--holdout", str(holdout),
                   "--work", str(fresh_dir(work)), "--trials", str(scale.trials),
                   "--epochs", str(scale.epochs)])


def _ours(train: Path, holdout: Path, overrides: dict[str, Any], retrain_epochs: int,
          runs: Path) -> dict:
    return _child(["-m", "bench.figures.fig01_time_to_model", "--data", str(train), "--holdout",
                   str(holdout), "--runs", str(fresh_dir(runs)), "--retrain-epochs",
                   str(retrain_epochs), "--overrides", json.dumps(overrides)])


def proposed_overrides() -> dict[str, Any]:
    """PROPOSED minus what the engine's defaults already are ({} once they are adopted)."""
    from tuning_core.runs.schema import TunerSettings

    defaults = TunerSettings().to_dict()
    return {k: v for k, v in PROPOSED.items() if defaults.get(k, object()) != v}


def measure(quick: bool) -> FigureResult:
    """Per dataset, ``repeats`` times: the anchor, ours (defaults), ours (proposed defaults)."""
    scale = QUICK if quick else FULL
    overrides = scaled_overrides(scale.trials, scale.epochs)
    proposed = proposed_overrides()
    work = OUT / "fig1"
    runs: dict[str, dict[str, list[dict]]] = {}
    holdout_images: dict[str, int] = {}
    for name in scale.datasets:
        train, holdout = prepare(name)
        holdout_images[name] = len(labelled_files(holdout)[0])
        sides: dict[str, list[dict]] = {"anchor": [], "ours": [], "proposed": []}
        for _ in range(scale.repeats):
            sides["anchor"].append(_anchor(train, holdout, scale, work / "anchor"))
            sides["ours"].append(_ours(train, holdout, overrides, scale.retrain, work / "runs"))
            if proposed:
                sides["proposed"].append(_ours(train, holdout, {**overrides, **proposed},
                                               scale.retrain, work / "proposed"))
        runs[name] = sides
    return summarize(runs, scale, overrides, holdout_images, proposed)


def standard_error(accuracy: float, n: int) -> float:
    """The binomial standard error of an accuracy measured on ``n`` images (nan for none)."""
    return math.sqrt(accuracy * (1 - accuracy) / n) if n else float("nan")


@dataclass(frozen=True)
class Spread:
    """The median of some repeated measurements and their range."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(median(values), min(values), max(values))

    def text(self, digits: int) -> str:
        """``0.41 (0.38-0.45)``; the median alone when there is nothing to spread."""
        if self.low == self.high:
            return f"{self.median:.{digits}f}"
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}-{self.high:.{digits}f})"


CHANCE_MARGIN = 0.05  # a held-out accuracy this close to chance is a broken model


def held_out(results: list[dict]) -> Spread:
    """The held-out accuracies of the repeats that handed back a model."""
    values = [r["holdout_accuracy"] for r in results if r["holdout_accuracy"] is not None]
    return Spread.of(values) if values else Spread(float("nan"), float("nan"), float("nan"))


def pair_ratios(ours: list[dict], anchors: list[dict]) -> list[float]:
    """Our wall time over the anchor's, repeat by repeat (the runs of one repeat are a pair)."""
    if len(ours) != len(anchors) or not anchors:
        raise ValueError(f"expected as many runs of ours as of the anchor, got {len(ours)} "
                         f"and {len(anchors)}")
    return [o["wall_s"] / a["wall_s"] for o, a in zip(ours, anchors, strict=True)]


@dataclass(frozen=True)
class DatasetVerdict:
    """Figure 1 on one dataset: the time ratios and held-out accuracies of both sides."""

    name: str
    title: str
    ratio: Spread
    anchor_accuracy: Spread
    ours_accuracy: Spread
    holdout_images: int

    refused: int = 0  # our repeats whose retrain was refused (no model handed back)
    broken: int = 0  # our repeats that handed back a model at chance on the held-out images

    @classmethod
    def of(cls, name: str, sides: dict[str, list[dict]], holdout_images: int) -> DatasetVerdict:
        title = DATASETS[name].title if name in DATASETS else name
        ours = sides["ours"]
        classes = max((r.get("classes") or 0) for r in ours)
        chance = 1.0 / classes if classes else 0.0
        return cls(name, title, Spread.of(pair_ratios(ours, sides["anchor"])),
                   held_out(sides["anchor"]), held_out(ours), holdout_images,
                   refused=sum(r["holdout_accuracy"] is None for r in ours),
                   broken=sum(r["holdout_accuracy"] is not None and
                              r["holdout_accuracy"] <= chance + CHANCE_MARGIN for r in ours))

    def gap(self) -> Difference:
        """Ours minus the anchor, medians on the held-out images, with its margin."""
        n = self.holdout_images
        return Difference(Accuracy.of(self.ours_accuracy.median, n),
                          Accuracy.of(self.anchor_accuracy.median, n))

    def margins(self) -> str:
        """Each side's median with its 95% interval, and whether the gap is within it."""
        if not self.holdout_images:
            return "no held-out images counted"
        n, gap = self.holdout_images, self.gap()
        low, high = gap.interval
        ours, anchor = (Accuracy.of(a.median, n) for a in (self.ours_accuracy,
                                                           self.anchor_accuracy))
        return (f"ours {ours.text()}, anchor {anchor.text()}; gap {gap.value:+.3f}, 95% "
                f"interval {low:+.3f} to {high:+.3f}: "
                + ("within the margin" if gap.within_noise else "beyond the margin"))

    @property
    def time_met(self) -> bool:
        return self.ratio.median <= MAX_RATIO

    @property
    def accuracy_met(self) -> bool:
        return self.ours_accuracy.median >= self.anchor_accuracy.median

    @property
    def met(self) -> bool:
        return self.time_met and self.accuracy_met

    def phrase(self) -> str:
        """The headline: ``digits: ratio 0.41 (0.38-0.45), held-out 0.985 vs 0.974``."""
        return (f"{self.name}: ratio {self.ratio.text(2)}, held-out "
                f"{self.ours_accuracy.median:.3f} vs {self.anchor_accuracy.median:.3f}")

    def note(self) -> str:
        """Whether the goal is met here and, if not, by how much it is missed."""
        n, anchor = self.holdout_images, self.anchor_accuracy.median
        error = (f"standard error {100 * standard_error(anchor, n):.1f} points on {n} held-out "
                 f"images, one image {100 / max(1, n):.1f} points")
        health = (f"; retrains refused {self.refused}, chance-level models handed back "
                  f"{self.broken}")
        error += f"; {self.margins()}{health}"
        if self.met:
            return f"{self.name} ({self.title}): met ({self.phrase()}; {error})."
        misses = []
        if not self.time_met:
            misses.append(f"time ratio over {MAX_RATIO} by {self.ratio.median - MAX_RATIO:.2f}")
        if not self.accuracy_met:
            misses.append(f"held-out accuracy short by "
                          f"{100 * (anchor - self.ours_accuracy.median):.1f} points")
        return f"{self.name} ({self.title}): NOT met: {'; '.join(misses)} ({error})."


def summarize(runs: dict[str, dict[str, list[dict]]], scale: Scale, overrides: dict[str, Any],
              holdout_images: dict[str, int],
              proposed: dict[str, Any] | None = None) -> FigureResult:
    """The figure from each dataset's runs (``anchor``, ``ours`` and maybe ``proposed``);
    the verdict is for the current defaults and needs every dataset to meet the goal."""
    verdicts = [DatasetVerdict.of(name, sides, holdout_images.get(name, 0))
                for name, sides in runs.items()]
    rows: list[dict[str, Any]] = []
    for name, sides in runs.items():
        rows += [_row(name, "anchor (tutorial)", sides["anchor"], sides["anchor"]),
                 _row(name, "ours (defaults)", sides["ours"], sides["anchor"])]
        if sides.get("proposed"):
            rows.append(_row(name, f"ours (proposed: {proposed})", sides["proposed"],
                             sides["anchor"]))
    first = next(iter(runs.values()))["ours"][0]
    notes = [f"anchor: BayesianOptimization {scale.trials} trials x {scale.epochs} epochs at "
             f"each dataset's native size in RGB, retrain {scale.epochs} epochs; ours: "
             f"{_describe(first)}, the scan's suggested size and colour, retrain up to "
             f"{scale.retrain} epochs with early stopping.",
             f"{scale.repeats} repeat(s) per dataset, each the anchor then ours; 'x anchor' is "
             "the median of the per-repeat ratios, accuracies are medians, (min-max) in "
             "brackets."]
    notes += [v.note() for v in verdicts]
    if overrides:
        notes.append(f"scaled like the anchor: our settings overridden with {overrides}.")
    if proposed and any(sides.get("proposed") for sides in runs.values()):
        notes.append(f"proposed defaults {proposed}: see the last row of each dataset (not yet "
                     "the engine's).")
    return FigureResult(1, "Time to a good model", GOAL, "; ".join(v.phrase() for v in verdicts),
                        met=all(v.met for v in verdicts), rows=rows, notes=notes)


def _describe(result: dict[str, Any]) -> str:
    s = result["settings"]
    return (f"{s['tuner']} max_trials {s['max_trials']} x {s['epochs']} epochs, patience "
            f"{s['patience']}")


def _image(result: dict[str, Any]) -> str:
    if "image" in result:
        return f"{result['image']['image_size']} px {result['image']['color_mode']}"
    return f"{result.get('image_size', '?')} px rgb"  # the anchor's


def _row(dataset: str, tool: str, results: list[dict], anchors: list[dict]) -> dict[str, Any]:
    pick = lambda key: median([float(r[key]) for r in results])  # noqa: E731
    return {"dataset": dataset, "tool": tool, "image": _image(results[0]),
            "wall s": round(pick("wall_s"), 1),
            "x anchor": Spread.of(pair_ratios(results, anchors)).text(2),
            "search s": round(pick("search_s"), 1), "retrain s": round(pick("retrain_s"), 1),
            "trials": results[0]["trials"], "own test acc": round(pick("test_accuracy"), 4),
            "held-out acc": held_out(results).text(4)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.figures.fig01_time_to_model")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--holdout", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--retrain-epochs", type=int, default=RETRAIN_EPOCHS)
    parser.add_argument("--overrides", default="{}", help="TunerSettings fields as JSON")
    args = parser.parse_args(argv)
    result = run_ours(args.data, args.holdout, args.runs, args.retrain_epochs,
                      json.loads(args.overrides))
    sys.stdout.write(json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    from bench.harness.common import quiet_tensorflow

    quiet_tensorflow()
    main()
