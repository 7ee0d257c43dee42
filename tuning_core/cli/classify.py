"""Command line of the model in use: ``classify RUN_DIR FOLDER``, a folder in one job.

One model load, batches, a progress bar on stderr and one CSV (path, class, probability,
low-confidence flag, reason for an unreadable file, every class's probability); the last
line on stdout is one JSON summary. Ctrl-C or SIGTERM stops after the current batch (every
row written stays); the same command again resumes where it stopped. In lab mode the
workspace's audit log records it, and the role rule is a retrain's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tuning_core.lab.actor import Actor
from tuning_core.lab.audit import audit_log
from tuning_core.lab.permissions import Action
from tuning_core.runs.rundir import RunDir

BAR_WIDTH = 30


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``classify`` to the main parser's subcommands."""
    from tuning_core.model.classify import BATCH, DEFAULT_THRESHOLD, ClassifyFormat

    classify = sub.add_parser("classify", help="classify a folder of images into a CSV with "
                                               "a run's best model (resumable)")
    classify.add_argument("run_dir")
    classify.add_argument("folder")
    classify.add_argument("--output", help="the CSV (default: the run's classify/FOLDER.csv); "
                                           "an existing one of this run is resumed")
    classify.add_argument("--format", default=ClassifyFormat.KERAS.value,
                          choices=[f.value for f in ClassifyFormat],
                          help="the Keras model (default) or its checked ONNX or LiteRT export")
    classify.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                          help="flag images whose top probability is under this "
                               f"(default {DEFAULT_THRESHOLD})")
    classify.add_argument("--batch", type=int, default=BATCH, help=f"images a batch ({BATCH})")


def default_output(run: RunDir, folder: str | Path) -> Path:
    """``classify/<folder name>.csv`` in the run folder."""
    return run.file("classify") / f"{Path(folder).resolve().name or 'images'}.csv"


def cmd_classify(args: argparse.Namespace) -> int:
    from tuning_core.cli.support import Signals, quiet_tensorflow_import
    from tuning_core.core import control
    from tuning_core.core.errors import SettingsError
    from tuning_core.model.classify import classify_folder, folder_images

    run = RunDir(args.run_dir)
    config = run.config()
    log = audit_log()
    actor = Actor(audit=log if log.path.is_file() else None)
    actor.check(Action.CLASSIFY, owner=config.owner, target=run.name)
    if args.batch < 1:
        raise SettingsError(f"--batch must be at least 1; got {args.batch}.")
    files = folder_images(args.folder)
    output = Path(args.output) if args.output else default_output(run, args.folder)
    quiet_tensorflow_import()
    key = f"classify:{output.resolve()}"
    job = control.register(key)
    try:
        with Signals():
            result = classify_folder(run.path, args.folder, output, args.format,
                                     args.threshold, args.batch, should_stop=job.should_end,
                                     progress=_bar, files=files)
    finally:
        control.unregister(key)
        sys.stderr.write("\n")
    actor.record(Action.CLASSIFY, target=run.name,
                 detail=f"{result.classified} images of {args.folder} ({args.format}) "
                        f"into {output}" + (" (stopped)" if result.stopped else ""))
    print(json.dumps({**result.to_dict(), "complete": result.complete}))
    return 0


def _bar(progress) -> None:
    """``[#########.........]  412/1000  41%  380 img/s`` redrawn on stderr."""
    filled = int(BAR_WIDTH * progress.fraction)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {progress.done}/"
                     f"{progress.total} {progress.fraction:4.0%} "
                     f"{progress.images_per_second:.0f} img/s"
                     + (f", {progress.unreadable} unreadable" if progress.unreadable else ""))
    sys.stderr.flush()


COMMANDS = {"classify": cmd_classify}
