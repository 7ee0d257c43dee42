"""Figure 4: bytes of our run folder (keep-top-3) against the anchor's KerasTuner project.

Ours: a random search of the tutorial preset (the anchor's model family) through the job
registry, read after 10 and after 20 trials. The anchor: ``bench/workloads/anchor.py`` run for 10
trials of 1 epoch (a checkpoint's size depends on the model, not on the epochs trained).
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench.harness.common import OUT, FigureResult, digits_dir, fresh_dir, hold_out
from bench.workloads.growth import Samples, sampled_search

GOAL = "ours after 10 trials <= 0.35x the anchor's project; 20 trials no larger than 10"
FULL = {"trials": 20, "epochs": 1, "subset": 0.3}
QUICK = {"trials": 6, "epochs": 1, "subset": 0.2}


def tutorial_search(s: dict) -> Samples:
    from tuning_core.data.dataset import ImageConfig, SplitConfig, scan
    from tuning_core.runs.schema import RunConfig, TunerSettings
    from tuning_core.space.presets import get_preset

    tuner = TunerSettings(tuner="random", max_trials=s["trials"], epochs=s["epochs"])
    config = RunConfig(data_dir=scan(digits_dir()).root, space=get_preset("tutorial"),
                       split=SplitConfig(subset=s["subset"]), image=ImageConfig(32, "grayscale"),
                       tuner=tuner, name="disk")
    return sampled_search(config, "fig4")


def anchor_bytes(trials: int) -> dict:
    """The anchor's project folder after ``trials`` one-epoch trials."""
    train, holdout = hold_out(digits_dir(), OUT / "data")
    work = fresh_dir(OUT / "fig4-anchor")
    done = subprocess.run([sys.executable, "-m", "bench.workloads.anchor", "--data", str(train),
                           "--holdout", str(holdout), "--work", str(work), "--trials",
                           str(trials), "--epochs", "1"], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench.workloads.anchor failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(quick: bool) -> FigureResult:
    samples = tutorial_search(QUICK if quick else FULL)
    n = samples.trials
    mid = n // 2
    ours_mid, ours_end = samples.bytes_after[mid], samples.bytes_after[n]
    anchor = anchor_bytes(mid)
    ratio = ours_mid / anchor["project_bytes"]
    mb = lambda b: round(b / 2**20, 2)  # noqa: E731
    rows = [{"folder": f"anchor project after {mid} trials", "MiB": mb(anchor["project_bytes"]),
             "checkpoints": anchor["checkpoints"]},
            {"folder": f"ours after {mid} trials", "MiB": mb(ours_mid),
             "checkpoints": samples.checkpoints_after[mid]},
            {"folder": f"ours after {n} trials", "MiB": mb(ours_end),
             "checkpoints": samples.checkpoints_after[n]},
            {"folder": "ours, largest seen during the search", "MiB": mb(samples.max_bytes),
             "checkpoints": ""},
            {"folder": "bound: keep_top x the largest checkpoint seen", "MiB":
             mb(samples.settings["keep_top"] * samples.max_checkpoint_bytes), "checkpoints": ""}]
    rss = samples.peak_rss_mb
    notes = [f"ours: {samples.settings}; pruning runs as each trial ends (Hyperband, the "
             "default tuner, prunes only when its search ends, so its folder grows until then).",
             f"the same search's peak RSS: {rss[2]:.0f} MiB after trial 2, {rss[n]:.0f} MiB "
             f"after trial {n} (its models differ in size; figure 5 isolates growth)."]
    value = (f"ratio {ratio:.2f} ({mb(ours_mid)} vs {mb(anchor['project_bytes'])} MiB); "
             f"{n} trials: {mb(ours_end)} MiB")
    return FigureResult(4, "Disk", GOAL, value, met=ratio <= 0.35 and ours_end <= ours_mid,
                        rows=rows, notes=notes)
