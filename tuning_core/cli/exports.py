"""Command line of taking a model out of the lab: ``export``, ``script`` and ``report``.

Each prints one JSON line. ``export`` exits 1 when any export failed its check (the line
says why). The same functions as the Best model page; when the workspace has an audit log
(lab mode is set up), what these commands write is recorded there as the command line's.
"""

from __future__ import annotations

import argparse
import json

from tuning_core.lab.actor import Actor
from tuning_core.lab.audit import audit_log
from tuning_core.runs.rundir import RunDir


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``export``, ``script`` and ``report`` to the main parser's subcommands."""
    from tuning_core.model.exports.formats import ALL, ExportFormat

    export = sub.add_parser("export", help="export the best model and check each file in its "
                                           "runtime; prints one JSON line")
    export.add_argument("run_dir")
    export.add_argument("--format", action="append", dest="formats",
                        choices=[f.value for f in ExportFormat] + [ALL],
                        help="saved_model, onnx, litert or all (the default); repeatable")
    export.add_argument("--quantize", action="store_true",
                        help="also a LiteRT file with int8 weights (checked on top-1 agreement)")
    export.add_argument("--int8", action="store_true",
                        help="also a full-integer LiteRT file (int8 inputs and outputs, "
                             "calibrated on training images; for Edge TPUs and "
                             "microcontrollers; checked on top-1 agreement)")
    script = sub.add_parser("script", help="write a standalone Python script that reruns the "
                                           "run's search with keras_tuner alone")
    script.add_argument("run_dir")
    script.add_argument("--output", help="where to write it (default: the run's exports/)")
    report = sub.add_parser("report", help="write the run's report as one self-contained HTML "
                                           "file")
    report.add_argument("run_dir")
    report.add_argument("--output", help="where to write it (default: the run's exports/)")


def _actor() -> Actor:
    log = audit_log()
    return Actor(audit=log if log.path.is_file() else None)


def cmd_export(args: argparse.Namespace) -> int:
    from tuning_core.cli.support import quiet_tensorflow_import
    from tuning_core.model.exports import export_run, parse_targets

    RunDir(args.run_dir).config()
    targets = parse_targets(args.formats or ["all"], quantize=args.quantize, integer=args.int8)
    quiet_tensorflow_import()
    records = export_run(args.run_dir, targets, actor=_actor())
    run = RunDir(args.run_dir)
    print(json.dumps({"run": str(run.path), "exports": [_summary(run, r) for r in records]}))
    return 0 if all(r.passed for r in records) else 1


def _summary(run: RunDir, record) -> dict:
    agreement = record.agreement
    return {"format": record.key, "passed": record.passed, "reason": record.reason or None,
            "file": str(run.export_path(record.file)) if record.file else None,
            "download": str(run.export_path(record.bundle)) if record.bundle else None,
            "bytes": record.bytes, "images": agreement.images if agreement else 0,
            "max_abs_diff": agreement.max_abs_diff if agreement else None,
            "top1_agreement": agreement.top1_agreement if agreement else None,
            "ms_per_image": record.ms_per_image, "input": record.input.describe()}


def cmd_script(args: argparse.Namespace) -> int:
    from tuning_core.model.script import write_script

    path = write_script(args.run_dir, args.output, actor=_actor())
    print(json.dumps({"run": str(RunDir(args.run_dir).path), "script": str(path)}))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from tuning_core.model.report import data_changes, write_report

    path = write_report(args.run_dir, args.output, actor=_actor())
    print(json.dumps({"run": str(RunDir(args.run_dir).path), "report": str(path),
                      "bytes": path.stat().st_size,
                      "data_changes": data_changes(RunDir(args.run_dir))}))
    return 0


COMMANDS = {"export": cmd_export, "script": cmd_script, "report": cmd_report}
