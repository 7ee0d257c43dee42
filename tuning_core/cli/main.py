"""Command line: the same code path as the dashboard (the job registry and the run folder).

Bad input exits with code 2 and one line on stderr, never a traceback. Ctrl-C or SIGTERM
stops a search or retrain cleanly (the trial ends at its next batch, the log says stopped,
exit 0); a second one aborts at once and leaves a run that can be resumed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import NoReturn

from tuning_core.cli import choose, classify, distributed, exports, inspection, lab
from tuning_core.cli.support import Signals, quiet_tensorflow_import
from tuning_core.core import diskspace, workspace
from tuning_core.core.errors import SettingsError, TuningError
from tuning_core.core.install import COMMAND, command_name
from tuning_core.core.states import RunStatus
from tuning_core.core.workspace import ENV_VAR
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import TUNER_NAMES
from tuning_core.runs.trialtable import ended


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, as for every bad input
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=command_name(), description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--workspace", type=Path, default=argparse.SUPPRESS,
                        help="the workspace folder for every command (default: "
                             "$TUNING_WORKSPACE, else workspace/ in a checkout or the per-user "
                             "data folder when installed)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sample = sub.add_parser("sample-data", help="write scikit-learn's digits as PNG class folders")
    sample.add_argument("dir", nargs="?",
                        help="default: data/digits in the workspace (as the Data page's button)")
    search = sub.add_parser("search", help="run a search; the last line printed is the run folder")
    search.add_argument("--data", required=True)
    search.add_argument("--runs-dir", help="default: the workspace's runs folder (the dashboard's)")
    search.add_argument("--space", help="search space JSON (default: the 'small' preset)")
    search.add_argument("--preset", help="a preset name instead of --space")
    search.add_argument("--tuner", choices=list(TUNER_NAMES))
    search.add_argument("--objective", choices=["val_accuracy", "val_loss"])
    for flag, kind in (("--max-trials", int), ("--epochs", int), ("--image-size", int),
                       ("--subset", float), ("--seed", int), ("--keep-top", int),
                       ("--max-minutes", float), ("--patience", int)):
        search.add_argument(flag, type=kind)
    search.add_argument("--color-mode", choices=["rgb", "grayscale"])
    search.add_argument("--minutes", type=float,
                        help="best model in about this many minutes, retrain included: fits "
                             "the image size and trial count to the data (explicit "
                             "--image-size/--max-trials win) and ends the search in time")
    resume = sub.add_parser("resume", help="resume an interrupted or stopped run")
    resume.add_argument("run_dir")
    best = sub.add_parser("best", help="retrain the best trial and test it; prints one JSON line")
    best.add_argument("run_dir")
    best.add_argument("--epochs", type=int, default=30)
    best.add_argument("--rank", type=int, default=1)
    choose.add_best_flags(best)
    for command in (search, resume, best):
        command.add_argument("--parallel", action="store_true",
                             help="train even while another job holds this machine's slot")
        command.add_argument("--queue", action="store_true",
                             help="wait in the workspace's job queue (the dashboard's) instead "
                                  "of refusing when the machine is busy")
    for command in (search, resume):
        distributed.add_search_flags(command)
    predict = sub.add_parser("predict", help="classify images with a run's best model")
    predict.add_argument("run_dir")
    predict.add_argument("images", nargs="+")
    runs = sub.add_parser("runs", help="list the runs of a runs folder")
    runs.add_argument("--runs-dir", help="default: the workspace's runs folder (the dashboard's)")
    exports.add_parsers(sub)
    choose.add_parsers(sub)
    inspection.add_parsers(sub)
    classify.add_parsers(sub)
    lab.add_parsers(sub)
    distributed.add_parsers(sub)
    return parser


def config_from_args(args: argparse.Namespace):
    from tuning_core.data.dataset import ImageConfig, SplitConfig, scan
    from tuning_core.runs.schema import RunConfig, TunerSettings
    from tuning_core.space.presets import DEFAULT_PRESET, get_preset

    summary = scan(args.data)
    space = _load_space(args.space) if args.space else get_preset(args.preset or DEFAULT_PRESET)
    defaults = TunerSettings()
    tuner = TunerSettings(
        tuner=_pick(args.tuner, defaults.tuner),
        objective=_pick(args.objective, defaults.objective),
        max_trials=_pick(args.max_trials, defaults.max_trials),
        epochs=_pick(args.epochs, defaults.epochs),
        seed=_pick(args.seed, defaults.seed), keep_top=_pick(args.keep_top, defaults.keep_top),
        max_minutes=args.max_minutes, patience=_pick(args.patience, defaults.patience))
    image = ImageConfig(image_size=_pick(args.image_size, summary.suggested_image_size()),
                        color_mode=_pick(args.color_mode, summary.suggested_color_mode()))
    split = SplitConfig(seed=_pick(args.seed, 0), subset=_pick(args.subset, 1.0))
    config = RunConfig(data_dir=summary.root, space=space, split=split, image=image, tuner=tuner)
    if args.minutes is None:
        return config
    from dataclasses import replace

    from tuning_core.analysis.planner import plan_for

    plan = plan_for(config, args.minutes, summary, image_size=args.image_size)
    config = plan.apply(config)
    print(f"plan: {plan.describe()}", flush=True)
    keep = {"max_trials": args.max_trials, "max_minutes": args.max_minutes}
    return replace(config, tuner=replace(config.tuner, **{k: v for k, v in keep.items()
                                                          if v is not None}))


def _pick(value, default):
    return default if value is None else value


def _load_space(path: str):
    from tuning_core.space.schema import SearchSpace

    try:
        text = Path(path).read_text()
    except OSError as error:
        raise SettingsError(
            f"cannot read the search space file {path}: {error.strerror}.") from error
    return SearchSpace.from_json(text)


def _follow(registry, run_dir: Path) -> None:
    """Print a line per ended trial until the job ends, and once, when the completed
    trials sit at chance, what that means for this run (tuning_core.analysis.diagnose)."""
    run = RunDir(run_dir)
    reader = run.reader()
    printed = ended(reader.trials()).shape[0]  # a resume prints only the trials it runs
    warned = False
    while _pending(registry, run_dir):
        registry.wait(timeout=0.5)
        printed, warned = _print_progress(run, reader, printed, warned)
    _print_progress(run, reader, printed, warned)


def _print_progress(run: RunDir, reader, printed: int, warned: bool) -> tuple[int, bool]:
    """New trial lines; the chance report once, checked only when a trial has ended; with a
    time budget, the measured pace against the plan after the first trial and every fifth."""
    now = _print_new_trials(reader, printed)
    if now > printed and (printed == 0 or now // 5 > printed // 5):
        from tuning_core.analysis.planner import run_pace

        report = run_pace(run)
        if report is not None:
            print("pace: " + report.describe(), flush=True)
    if now > printed and not warned:
        from tuning_core.analysis.diagnose import run_chance_report

        chance = run_chance_report(run)
        if chance is not None:
            print("warning: " + chance.describe(), flush=True)
            warned = True
    return now, warned


def _print_new_trials(reader, printed: int) -> int:
    reader.poll()
    trials = reader.trials()
    done = ended(trials)
    for row in done.iloc[printed:].itertuples():
        scored = row.score is not None and row.score == row.score
        detail = f"score {row.score:.4f}" if scored else (row.error or "")
        print(f"trial {row.number} ({row.trial_id}): {row.status}, {detail}, "
              f"{row.seconds:.1f}s", flush=True)
    return max(printed, len(done))


def _registry(runs_dir: str | Path, args: argparse.Namespace):
    from tuning_core.jobs.dispatcher import queue_for, serve_queue, serving_dashboard
    from tuning_core.jobs.registry import JobRegistry

    runner = distributed.search_runner(args)
    registry = JobRegistry(runs_dir, machine_slot=not args.parallel,
                           **({"search": runner} if runner else {}))
    queue = queue_for(runs_dir)
    if args.queue:
        serve_queue(registry, queue)  # serves the queue too until its own job has ended
        return registry
    dashboard = serving_dashboard(queue) if Path(queue.path).exists() else None
    if dashboard is not None:
        print(f"note: a dashboard ({dashboard.describe()}) serves this workspace's job queue; "
              "this job runs alongside it, not through it (--queue joins the queue).",
              file=sys.stderr, flush=True)
    return registry


def _pending(registry, run_dir: Path) -> bool:
    """True while this process trains the run, or its job waits in the queue."""
    if registry.active_run() is not None:
        return True
    dispatcher = registry.dispatcher
    return dispatcher is not None and any(
        Path(job.run_dir) == Path(run_dir).resolve() for job in dispatcher.queue.jobs())


def cmd_search(args: argparse.Namespace) -> int:
    from tuning_core.space.backbones import check_weights
    from tuning_core.space.schema import check

    config = config_from_args(args)
    check(config.space)
    backbone = config.space.backbone  # fetched through Keras' loader where the network allows
    check_weights(backbone.names, backbone.weights, download=True)
    config.validate()
    registry = _registry(args.runs_dir or workspace.runs_dir(), args)
    quiet_tensorflow_import()
    with Signals():
        run_dir = registry.start_search(config)
        return _finish_search(registry, run_dir)


def cmd_resume(args: argparse.Namespace) -> int:
    run = RunDir(args.run_dir)
    run.config()
    _print_data_changes(run)  # a folder edited past going on is refused here, in one line
    registry = _registry(run.path.parent, args)
    quiet_tensorflow_import()
    with Signals():
        registry.resume(run.path)
        return _finish_search(registry, run.path)


def _print_data_changes(run: RunDir, retrain: bool = False) -> None:
    """What a resume or retrain does about the data folder edited since the search (issue
    27); DatasetError when it cannot go on (before TensorFlow's slow import)."""
    from tuning_core.data.changes import Use
    from tuning_core.search.lifecycle import folder_changes, load_or_make_split

    use = Use.RETRAIN if retrain else Use.RESUME
    found = folder_changes(run)
    if not found.unchanged and run.load_split() is not None:
        listed = load_or_make_split(run)
        print(f"data: {found.effect(listed, found.usable(listed, use), use)}",
              file=sys.stderr if retrain else sys.stdout, flush=True)


def _finish_search(registry, run_dir: Path) -> int:
    waiting = registry.active_run() is None and registry.dispatcher is not None
    print(f"search {'queued' if waiting else 'started'}: {run_dir}", flush=True)
    _follow(registry, run_dir)
    progress = registry.progress(run_dir)
    message = progress.message
    print(f"search {progress.state.label}" + (f": {message}" if message else ""), flush=True)
    print(run_dir)
    if (RunDir(run_dir).reader().last_end or {}).get("reason") == diskspace.REASON:
        print(f"error: {message} ({command_name()} resume {run_dir})", file=sys.stderr)
        return 2  # a full disk is a state to act on, as bad input is (issue 27)
    return 1 if progress.state in (RunStatus.FAILED, RunStatus.INTERRUPTED) else 0


def cmd_best(args: argparse.Namespace) -> int:
    run = RunDir(args.run_dir)
    run.config()
    trial_id, choice = choose.resolve_best(run, args)
    _print_data_changes(run, retrain=True)  # stderr: stdout is the one JSON line
    registry = _registry(run.path.parent, args)
    quiet_tensorflow_import()
    with Signals():
        registry.start_retrain(run.path, epochs=args.epochs, rank=args.rank, trial_id=trial_id)
        while _pending(registry, run.path):
            registry.wait(timeout=0.5)
    error = registry.last_error(run.path)
    if error:
        raise TuningError(error)
    from tuning_core.analysis.margin import evaluation_accuracy
    from tuning_core.model.best import load_evaluation

    evaluation = load_evaluation(run.path) or {}
    summary = {k: evaluation.get(k) for k in ("test_accuracy", "test_loss", "test_images")}
    accuracy = evaluation_accuracy(evaluation)
    summary["test_accuracy_95"] = list(accuracy.interval) if accuracy else None
    summary["misclassified"] = len(evaluation.get("misclassified", []))
    summary["model"] = str(run.model_path)
    summary["data_changes"] = (evaluation.get("data_changes") or {}).get("summary")
    if choice is not None:
        summary["chosen"] = choice.to_dict()
    print(json.dumps(summary))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from tuning_core.model.predict import predict

    RunDir(args.run_dir).config()
    quiet_tensorflow_import()
    for p in predict(args.run_dir, args.images):
        print(f"{p.path}\t{p.label}\t{p.probability:.4f}")
    return 0


def cmd_sample_data(args: argparse.Namespace) -> int:
    from tuning_core.data.sample import write_digits

    print(write_digits(args.dir or workspace.data_dir() / "digits"))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from tuning_core.runs.catalogue import list_runs

    for info in list_runs(args.runs_dir or workspace.runs_dir()):
        score = "-" if info.best_score is None else f"{info.best_score:.4f}"
        print(f"{info.run.name}\t{info.state}\t{info.tuner}\t"
              f"{info.trials_done}/{info.max_trials}\t{score}\t{(info.bytes or 0) / 1e6:.1f} MB"
              + (f"\t{info.holder.describe()}" if info.holder else ""))
    return 0


COMMANDS = {"sample-data": cmd_sample_data, "search": cmd_search, "resume": cmd_resume,
            "best": cmd_best, "predict": cmd_predict, "runs": cmd_runs, **exports.COMMANDS,
            **lab.COMMANDS, **choose.COMMANDS, **inspection.COMMANDS, **distributed.COMMANDS,
            **classify.COMMANDS}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(COMMAND)
    except PackageNotFoundError:
        return "(checkout, not installed)"


def with_default_command(argv: list[str]) -> list[str]:
    """``serve`` inserted where no command is named: ``tuning-dashboard``, ``tuning-dashboard
    --port 8600`` and ``tuning-dashboard --workspace DIR`` start the dashboard."""
    head = 0
    if argv[:1] == ["--workspace"] and len(argv) > 1:
        head = 2
    elif argv[:1] and argv[0].startswith("--workspace="):
        head = 1
    rest = argv[head:]
    if rest and (not rest[0].startswith("-") or rest[0] in ("-h", "--help", "--version")):
        return argv
    return [*argv[:head], "serve", *rest]


def main(argv: list[str] | None = None) -> int:
    """Run one command; TuningError becomes exit code 2 with its message on one line."""
    argv = with_default_command(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    if getattr(args, "workspace", None) is not None:
        os.environ[ENV_VAR] = str(Path(args.workspace).expanduser().resolve())
    try:
        return COMMANDS[args.command](args)
    except TuningError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2


def entry() -> None:
    """The console command ``tuning-dashboard``: the same as ``python -m tuning_core``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # native log lines are not for users
    raise SystemExit(main())
