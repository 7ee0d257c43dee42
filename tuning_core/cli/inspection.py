"""Command line of looking into a model and its data: ``explain``, ``health``, ``exclusions``.

``explain RUN_DIR`` writes the best model's explanations (explain/) and prints one JSON line:
the misclassified count, the most confused pairs and the highest-loss test images.
``health RUN_DIR`` checks the run's data (it trains short models, so it takes the machine's
training slot) and prints one line per flagged file: kind, path, reason; ``--exclude KIND``
(repeatable, or ``all``) puts the flagged files of those kinds on the dataset's exclusion
list. ``exclusions RUN_DIR`` lists that list; ``--restore PATH`` and ``--clear`` undo it.
What changes something is recorded in the audit log when the workspace has one.
"""

from __future__ import annotations

import argparse
import json

from tuning_core.lab.actor import Actor
from tuning_core.lab.audit import audit_log
from tuning_core.lab.permissions import Action
from tuning_core.model.health import EPOCHS, FOLDS, FlagKind
from tuning_core.runs.rundir import RunDir

ALL = "all"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``explain``, ``health`` and ``exclusions`` to the main parser's subcommands."""
    explain = sub.add_parser("explain", help="explain the best model: test images by loss, "
                                             "confused pairs, Grad-CAM heatmaps")
    explain.add_argument("run_dir")
    explain.add_argument("--limit", type=int, default=48, help="heatmaps at most")
    health = sub.add_parser("health", help="suspected label errors, near-duplicates, leaks "
                                           "and outliers of a run's data")
    health.add_argument("run_dir")
    health.add_argument("--folds", type=int, default=FOLDS)
    health.add_argument("--epochs", type=int, default=EPOCHS)
    health.add_argument("--exclude", action="append", default=[],
                        choices=[k.value for k in FlagKind] + [ALL],
                        help="exclude the flagged files of this kind from the next search")
    listed = sub.add_parser("exclusions", help="the files excluded from a dataset's next search")
    listed.add_argument("run_dir")
    listed.add_argument("--restore", action="append", default=[], metavar="PATH")
    listed.add_argument("--clear", action="store_true")


def _actor() -> Actor:
    log = audit_log()
    return Actor(audit=log if log.path.is_file() else None)


def cmd_explain(args: argparse.Namespace) -> int:
    from tuning_core.cli.support import quiet_tensorflow_import
    from tuning_core.model.explain import explain_run

    RunDir(args.run_dir).config()
    _actor().check(Action.EXPLAIN, target=RunDir(args.run_dir).name)
    quiet_tensorflow_import()
    result = explain_run(args.run_dir, limit=args.limit)
    print(json.dumps({
        "misclassified": len(result.misclassified),
        "heatmaps": sum(1 for i in result.images if i.heatmap),
        "target_layer": result.target_layer or None, "note": result.note or None,
        "confused": [[p.true, p.predicted, p.count] for p in result.confused[:5]],
        "top_losses": [[i.path, round(i.loss, 4)] for i in result.images[:5]],
        "folder": str(RunDir(args.run_dir).explain_dir)}))
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from tuning_core.cli.support import quiet_tensorflow_import
    from tuning_core.core.errors import RunError
    from tuning_core.model.health import check_with_slot

    run = RunDir(args.run_dir)
    run.config()
    if args.folds < 2 or args.epochs < 1:
        raise RunError(f"expected --folds of 2 or more and --epochs of 1 or more; got "
                       f"{args.folds} and {args.epochs}.")
    actor = _actor()
    actor.check(Action.EXPLAIN, target=run.name)
    quiet_tensorflow_import()
    report = check_with_slot(run.path, actor.record_name, args.folds, args.epochs)
    for flag in report.flags:
        print(f"{flag.kind.value}\t{flag.path}\t{flag.reason}")
    if report.note:
        print(f"note: {report.note}")
    if report.data_changes:  # the folder edited since the search (issue 27)
        print(f"data: {report.data_changes}")
    counts = {k.value: len(report.of_kind(k)) for k in FlagKind}
    print(f"checked {report.images} images in {report.seconds:.0f} s: "
          + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if args.exclude:
        _exclude(run, report, set(args.exclude), actor)
    return 0


def _exclude(run: RunDir, report, kinds: set[str], actor: Actor) -> None:
    from tuning_core.runs.exclusions import Exclusion, exclude

    chosen = [f for f in report.flags if ALL in kinds or f.kind.value in kinds]
    listed = exclude(run.path, [Exclusion(f.path, f.reason, f.kind.value) for f in chosen],
                     actor)
    print(f"excluded from the next search: {len(listed.entries)} file(s) in all "
          f"(python -m tuning_core exclusions {run.path} --restore PATH to undo)")


def cmd_exclusions(args: argparse.Namespace) -> int:
    from tuning_core.runs.exclusions import for_run, restore

    run = RunDir(args.run_dir)
    _, listed = for_run(run.path)
    if args.clear or args.restore:
        listed = restore(run.path, listed.paths if args.clear else set(args.restore), _actor())
    for entry in listed.entries:
        print(f"{entry.path}\t{entry.kind or 'by hand'}\t{entry.by}\t{entry.reason}")
    print(f"{len(listed.entries)} file(s) excluded from the next search of {listed.root}")
    return 0


COMMANDS = {"explain": cmd_explain, "health": cmd_health, "exclusions": cmd_exclusions}
