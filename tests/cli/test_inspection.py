"""Looking into a model and its data from the command line: explain, health, exclusions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tuning_core.cli.main import main


@pytest.fixture
def planted(augmented_run, tmp_path) -> tuple[Path, str]:
    """A copy of the augmented run and its images, a test image replaced by a train image."""
    run = Path(shutil.copytree(augmented_run, tmp_path / "runs" / augmented_run.name))
    split = json.loads((run / "split.json").read_text())
    data = Path(shutil.copytree(split["root"], tmp_path / "images"))
    split["root"] = str(data)
    (run / "split.json").write_text(json.dumps(split))
    shutil.copyfile(data / split["train"][0][0], data / split["test"][0][0])
    return run, split["test"][0][0]


@pytest.mark.training
def test_explain_prints_one_line_and_writes_the_heatmaps(planted, capsys):
    run, _ = planted
    assert main(["explain", str(run), "--limit", "3"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["heatmaps"] == 3 and line["target_layer"].startswith("conv_")
    assert len(line["top_losses"]) == 5 and Path(line["folder"]).is_dir()


@pytest.mark.training
def test_health_flags_the_leak_excludes_it_and_exclusions_undo_it(planted, capsys):
    run, _test_file = planted
    assert main(["health", str(run), "--folds", "2", "--epochs", "1",
                 "--exclude", "leak"]) == 0
    out = capsys.readouterr().out
    leaks = [line.split("\t") for line in out.splitlines() if line.startswith("leak\t")]
    assert len(leaks) == 1 and "in train while this one is in test" in leaks[0][2]
    assert "excluded from the next search: 1 file(s)" in out
    assert main(["exclusions", str(run)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split("\t")[:2] == [leaks[0][1], "leak"]
    assert main(["exclusions", str(run), "--restore", leaks[0][1]]) == 0
    assert capsys.readouterr().out.startswith("0 file(s) excluded")


@pytest.mark.training
def test_health_refuses_too_few_folds_in_one_line(augmented_run, capsys):
    assert main(["health", str(augmented_run), "--folds", "1"]) == 2
    err = capsys.readouterr().err
    assert "--folds of 2 or more" in err and len(err.strip().splitlines()) == 1
