"""One long search, sampled as it runs: run-folder bytes and peak memory after each trial.

Figures 4 (disk) and 5 (memory) read the same search, run once per process. A sampler
thread watches the trial log: at a trial's end it reads the peak resident memory; when
the next trial starts (after the runner pruned checkpoints) it reads the folder's bytes.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import OUT, digits_dir, fresh_dir, peak_rss_mb
from tuning_core.triallog import LOG_NAME, TrialLogReader

FULL = {"trials": 20, "epochs": 1, "subset": 0.3}
QUICK = {"trials": 4, "epochs": 1, "subset": 0.2}


@dataclass
class Samples:
    """Per-trial readings of one search (index k holds the reading after k trials)."""

    run_dir: Path
    trials: int
    peak_rss_mb: dict[int, float] = field(default_factory=dict)
    bytes_after: dict[int, int] = field(default_factory=dict)
    checkpoints_after: dict[int, int] = field(default_factory=dict)
    max_bytes: int = 0
    settings: dict = field(default_factory=dict)


def _bytes(run_dir: Path) -> int:
    from tuning_core.pruning import folder_bytes

    for _ in range(5):  # files come and go while the search runs
        try:
            return folder_bytes(run_dir)
        except FileNotFoundError:
            time.sleep(0.01)
    return 0


def _watch(samples: Samples, done: threading.Event) -> None:
    from tuning_core.pruning import checkpoint_count

    reader, seen, ended = TrialLogReader(samples.run_dir / LOG_NAME), 0, 0
    while True:
        finished = done.is_set()
        reader.poll()
        events = reader.events()
        for event in events[seen:]:
            if event["event"] == "trial_end":
                ended += 1
                samples.peak_rss_mb[ended] = peak_rss_mb()
            elif event["event"] in ("trial_start", "search_end") and ended:
                samples.bytes_after[ended] = _bytes(samples.run_dir)
                samples.checkpoints_after[ended] = checkpoint_count(samples.run_dir / "tuner")
        seen = len(events)
        samples.max_bytes = max(samples.max_bytes, _bytes(samples.run_dir))
        if finished:
            return
        time.sleep(0.05)


@functools.cache
def sampled_search(quick: bool) -> Samples:
    """Run the tutorial-preset random search once and return its readings."""
    from tuning_core.dataset import ImageConfig, SplitConfig, scan
    from tuning_core.jobs import JobRegistry
    from tuning_core.settings import RunConfig, TunerSettings
    from tuning_core.space import get_preset

    s = QUICK if quick else FULL
    tuner = TunerSettings(tuner="random", max_trials=s["trials"], epochs=s["epochs"])
    config = RunConfig(data_dir=scan(digits_dir()).root, space=get_preset("tutorial"),
                       split=SplitConfig(subset=s["subset"]), image=ImageConfig(32, "grayscale"),
                       tuner=tuner, name="growth")
    registry = JobRegistry(fresh_dir(OUT / "growth"))
    run_dir = registry.start_search(config)
    samples = Samples(run_dir, s["trials"], settings={**s, "keep_top": tuner.keep_top})
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(samples, done), daemon=True)
    watcher.start()
    registry.wait()
    done.set()
    watcher.join()
    return samples
