"""Choosing by cost from the command line: the trial table, the front, best within limits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.pages.support import make_run
from tuning_core.cli.main import main
from tuning_core.runs.rundir import RunDir


def costed_run(tmp_path: Path, image_folder: Path) -> Path:
    """Three trials (val_loss .5, .6, .7: lower is better) at 3, 1 and 2 ms."""
    run = make_run(tmp_path / "runs", image_folder, trials=3)
    log = RunDir(run).log_writer()
    for i, ms in enumerate([3.0, 1.0, 2.0]):
        log.write("trial_cost", trial_id=f"{i:02d}", params=1000 * (3 - i), macs=50_000,
                  model_bytes=9000, latency_ms=ms, threads=1)
    return run


def test_trials_and_front_print_the_costs(tmp_path, image_folder, capsys):
    run = costed_run(tmp_path, image_folder)
    assert main(["trials", str(run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[-4:] == ["params", "macs", "model_bytes", "latency_ms"]
    assert lines[2].split("\t")[-1] == "1.0000"
    assert main(["trials", str(run), "--csv"]) == 0
    assert "latency_ms" in capsys.readouterr().out.splitlines()[0]
    assert main(["front", str(run)]) == 0
    front = [line.split("\t")[1] for line in capsys.readouterr().out.splitlines()[1:]]
    assert front == ["01", "00"]  # trial 3 (02) is worse and slower than trial 2 (01)


@pytest.mark.parametrize("flags, message", [
    (["--max-ms", "0.5"], "no completed trial is under 0.5 ms; the closest is trial 2"),
    (["--max-ms", "-1"], "--max-ms must be above 0"),
    (["--trial", "01", "--max-ms", "2"], "either --trial or --max-ms"),
])
def test_limits_nothing_meets_or_contradicting_flags_exit_2(tmp_path, image_folder, capsys,
                                                            flags, message):
    run = costed_run(tmp_path, image_folder)
    assert main(["best", str(run), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_run_without_costs_says_how_to_measure_them(tmp_path, image_folder, capsys):
    run = make_run(tmp_path / "runs", image_folder, trials=2)
    assert main(["best", str(run), "--max-params", "10"]) == 2
    assert "python -m tuning_core cost" in capsys.readouterr().err


@pytest.mark.training
def test_best_within_a_latency_limit_retrains_that_trial_and_says_what_it_gave_up(
        augmented_run, tmp_path, capsys):
    run = Path(shutil.copytree(augmented_run, tmp_path / "runs" / augmented_run.name))
    trials = RunDir(run).reader().trials()
    fastest = trials.sort_values("latency_ms").iloc[0]
    limit = float(fastest["latency_ms"]) + 1e-3
    assert main(["best", str(run), "--epochs", "1", "--max-ms", str(limit)]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    chosen = summary["chosen"]["chosen"]
    assert chosen["latency_ms"] <= limit and chosen["trial_id"] == str(fastest["trial_id"])
    assert captured.err.startswith(f"chosen: under {limit:g} ms: trial {chosen['number']}")
    saved = json.loads((RunDir(run).best_dir / "hyperparameters.json").read_text())
    assert saved["trial_id"] == chosen["trial_id"]
    assert main(["best", str(run), "--epochs", "1", "--trial", "no-such"]) == 2
    assert "did not complete with a score" in capsys.readouterr().err
