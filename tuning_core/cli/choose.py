"""Command line of choosing by cost: ``trials``, ``cost``, ``front`` and ``best``'s limits.

``trials RUN_DIR`` prints the trial table with each trial's cost (``--csv`` for a file);
``cost RUN_DIR`` measures the completed trials that have no cost yet (runs made before
costs were logged, or a trial ended by a stop); ``front RUN_DIR`` lists the Pareto front of
the objective against latency and parameters; ``best RUN_DIR --max-ms M --max-params N``
retrains the best trial within the limits and says which one and what it gave up
(``--trial ID`` retrains one trial by its id, as the pages' 'Retrain this trial').
"""

from __future__ import annotations

import argparse
import sys

from tuning_core.analysis.pareto import AXES, LimitChoice, Limits, front_frame, pick_within
from tuning_core.core.errors import RunError
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.triallog import COST_COLUMNS

TABLE_COLUMNS = ["number", "trial_id", "status", "score", "seconds", *COST_COLUMNS]


def add_best_flags(best: argparse.ArgumentParser) -> None:
    """``--trial``, ``--max-ms`` and ``--max-params`` for the ``best`` command."""
    best.add_argument("--trial", help="retrain this trial (its id, as the trial table shows)")
    best.add_argument("--max-ms", type=float,
                      help="the best trial whose CPU latency is at most this (ms per image)")
    best.add_argument("--max-params", type=int,
                      help="the best trial with at most this many parameters")


def resolve_best(run: RunDir, args: argparse.Namespace) -> tuple[str | None, LimitChoice | None]:
    """The trial id ``best`` retrains (None: by rank) and the limits' choice, if any;
    RunError for flags that contradict each other or limits nothing meets."""
    limits = Limits(max_ms=args.max_ms, max_params=args.max_params)
    if args.trial and limits.any:
        raise RunError("give either --trial or --max-ms/--max-params, not both.")
    if not limits.any:
        return args.trial, None
    choice = pick_within(run.reader().trials(), run.direction, run.config().tuner.objective,
                         limits)
    print(f"chosen: {choice.describe()}", file=sys.stderr, flush=True)
    return choice.chosen.trial_id, choice


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``trials``, ``cost`` and ``front`` to the main parser's subcommands."""
    trials = sub.add_parser("trials", help="the trial table of a run, with each trial's cost")
    trials.add_argument("run_dir")
    trials.add_argument("--csv", action="store_true", help="comma-separated, every column")
    cost = sub.add_parser("cost", help="measure the completed trials that have no cost yet")
    cost.add_argument("run_dir")
    cost.add_argument("--repeats", type=int, default=20, help="timed calls per trial")
    front = sub.add_parser("front", help="the Pareto front of the objective against a cost")
    front.add_argument("run_dir")
    front.add_argument("--axis", choices=list(AXES), default="latency")


def cmd_trials(args: argparse.Namespace) -> int:
    trials = RunDir(args.run_dir).reader().trials()
    if args.csv:
        sys.stdout.write(trials.to_csv(index=False))
        return 0
    shown = trials.reindex(columns=TABLE_COLUMNS).sort_values("number", kind="stable")
    print("\t".join(TABLE_COLUMNS))
    for row in shown.itertuples(index=False):
        print("\t".join(_cell(v) for v in row))
    return 0


def cmd_cost(args: argparse.Namespace) -> int:
    from tuning_core.cli.support import quiet_tensorflow_import
    from tuning_core.search.cost import COST_EVENT, measure_trial

    run = RunDir(args.run_dir)
    holder = run.holder()
    if holder is not None:
        raise RunError(f"{run.name} is being trained ({holder.describe()}); its search "
                       "measures each trial itself, so wait for it to end.")
    trials = run.reader().trials()
    missing = [str(t) for t in trials.loc[trials["status"] == "completed", "trial_id"]] \
        if not trials.empty else []
    if "latency_ms" in trials:
        missing = [t for t in missing
                   if trials.loc[trials["trial_id"] == t, "latency_ms"].isna().all()]
    quiet_tensorflow_import()
    for trial_id in missing:
        cost = measure_trial(run.path, trial_id, repeats=args.repeats)
        run.log_writer().write(COST_EVENT, trial_id=trial_id, **cost.to_dict())
        print(f"trial {trial_id}: {cost.params} parameters, {cost.macs} multiply-adds, "
              f"{cost.model_bytes / 1e6:.2f} MB, {cost.latency_ms:.2f} ms", flush=True)
    print(f"measured {len(missing)} trial(s)")
    return 0


def cmd_front(args: argparse.Namespace) -> int:
    run = RunDir(args.run_dir)
    axis = AXES[args.axis]
    frame = front_frame(run.reader().trials(), run.direction, axis)
    if frame.empty:
        raise RunError(f"{run.name} has no completed trial with a measured cost; "
                       f"measure them first (python -m tuning_core cost {args.run_dir}).")
    objective = run.config().tuner.objective
    print(f"number\ttrial_id\t{objective}\t{axis.column}")
    for row in frame[frame["on_front"]].itertuples(index=False):
        print(f"{row.number}\t{row.trial_id}\t{row.score:.4f}\t{_cell(getattr(row, axis.column))}")
    return 0


def _cell(value: object) -> str:
    if value is None or value != value:  # None or NaN
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if not value.is_integer() or abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


COMMANDS = {"trials": cmd_trials, "cost": cmd_cost, "front": cmd_front}
