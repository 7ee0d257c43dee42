"""A long search through the job registry, sampled as it runs (figures 4 and 5).

A sampler thread watches the trial log: at a trial's end it reads the process's peak and
current resident memory; when the next trial starts (after the runner pruned checkpoints)
and when the search ends, it reads the run folder's bytes and checkpoint count.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness.common import OUT, fresh_dir, peak_rss_mb, rss_mb
from tuning_core.jobs.registry import JobRegistry
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig
from tuning_core.runs.triallog import TrialLogReader


@dataclass
class Samples:
    """Per-trial readings of one search (index k holds the reading after k trials)."""

    run_dir: Path
    trials: int
    peak_rss_mb: dict[int, float] = field(default_factory=dict)
    rss_mb: dict[int, float] = field(default_factory=dict)
    bytes_after: dict[int, int] = field(default_factory=dict)
    checkpoints_after: dict[int, int] = field(default_factory=dict)
    max_bytes: int = 0
    max_checkpoint_bytes: int = 0
    settings: dict = field(default_factory=dict)


def _bytes(run_dir: Path) -> int:
    from tuning_core.runs.pruning import folder_bytes

    for _ in range(5):  # files come and go while the search runs
        try:
            return folder_bytes(run_dir)
        except FileNotFoundError:
            time.sleep(0.01)
    return 0


def _largest_checkpoint(run_dir: Path) -> int:
    sizes = [0]
    for path in RunDir(run_dir).project_dir.glob("trial_*/checkpoint*"):
        try:
            sizes.append(path.stat().st_size)
        except FileNotFoundError:
            continue
    return max(sizes)


def _watch(samples: Samples, done: threading.Event) -> None:
    from tuning_core.runs.pruning import checkpoint_count

    run = RunDir(samples.run_dir)
    # a reader of its own, as figures 4 and 5 were measured with: the shared RunDir.reader()
    # is the one the search's own thread polls here, and sharing it would change what is measured
    reader, seen, ended = TrialLogReader(run.log_path), 0, 0
    while True:
        finished = done.is_set()
        reader.poll()
        events = reader.events()
        for event in events[seen:]:
            if event["event"] == "trial_end":
                ended += 1
                samples.peak_rss_mb[ended] = peak_rss_mb()
                samples.rss_mb[ended] = rss_mb()
            elif event["event"] in ("trial_start", "search_end") and ended:
                samples.bytes_after[ended] = _bytes(samples.run_dir)
                samples.checkpoints_after[ended] = checkpoint_count(run.project_dir)
        seen = len(events)
        samples.max_bytes = max(samples.max_bytes, _bytes(samples.run_dir))
        samples.max_checkpoint_bytes = max(samples.max_checkpoint_bytes,
                                           _largest_checkpoint(samples.run_dir))
        if finished:
            return
        time.sleep(0.05)


def sampled_search(config: RunConfig, name: str) -> Samples:
    """Run ``config``'s search under ``bench/out/<name>`` and return its readings."""
    registry = JobRegistry(fresh_dir(OUT / name))
    run_dir = registry.start_search(config)
    samples = Samples(run_dir, config.tuner.max_trials, settings={
        "tuner": config.tuner.tuner, "trials": config.tuner.max_trials,
        "epochs": config.tuner.epochs, "subset": config.split.subset,
        "keep_top": config.tuner.keep_top})
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(samples, done), daemon=True)
    watcher.start()
    registry.wait()
    done.set()
    watcher.join()
    return samples
