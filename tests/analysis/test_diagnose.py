"""diagnose: hand-written logs at chance and not, each cause from its own setting, the
CLI's one-time print and the Monitor warning."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.conftest import write_image_folder
from tests.pages.support import live_part, live_text, make_run, new_app, problems
from tuning_core.analysis.diagnose import (
    ChanceReport,
    chance_report,
    images_per_class,
    original_side,
    run_chance_report,
)
from tuning_core.cli import main
from tuning_core.core.workspace import runs_dir
from tuning_core.data.dataset import ImageConfig, SplitConfig, scan, split_files
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.runs.triallog import TrialLogReader, TrialLogWriter
from tuning_core.space.presets import get_preset

CLASSES = 4
CHANCE = dict(val_accuracy=0.25, val_loss=1.40, accuracy=0.3, loss=[1.5, 1.45, 1.42, 1.4])


def write_log(log: TrialLogWriter, trials: int, start: int = 0, epochs: int = 4,
              **metrics: object) -> None:
    """``trials`` completed trials; a metric is a constant, or a list with one value per epoch."""
    values = {**CHANCE, **metrics}
    for i in range(start, start + trials):
        log.write("trial_start", trial_id=f"{i:02d}", number=i + 1, hyperparameters={})
        for epoch in range(epochs):
            row = {k: (v[epoch % len(v)] if isinstance(v, list) else v) for k, v in values.items()}
            log.write("epoch_end", trial_id=f"{i:02d}", execution=0, epoch=epoch,
                      seconds=0.1, metrics=row)
        log.write("trial_end", trial_id=f"{i:02d}", status="completed", score=0.25,
                  seconds=1.0, error=None)


def frames(tmp_path: Path, trials: int = 3, **kwargs: object):
    path = tmp_path / "trials.jsonl"
    path.unlink(missing_ok=True)
    write_log(TrialLogWriter(path), trials, **kwargs)
    reader = TrialLogReader(path)
    reader.poll()
    return reader.trials(), reader.epochs()


def config(epochs: int = 10, size: int = 64, lr_max: float = 1e-2) -> RunConfig:
    space = get_preset("small")
    space.training.learning_rate_max = lr_max
    return RunConfig(data_dir="data", space=space, image=ImageConfig(size, "rgb"),
                     tuner=TunerSettings(epochs=epochs))


def report(tmp_path: Path, cfg: RunConfig | None = None, per_class: int = 50,
           side: float | None = None, classes: int = CLASSES, **log: object):
    trials, epochs = frames(tmp_path, **log)
    return chance_report(trials, epochs, classes, cfg or config(), per_class, side)


def test_at_chance_after_three_completed_trials(tmp_path: Path) -> None:
    assert report(tmp_path, trials=2) is None  # too early to say
    found = report(tmp_path)
    assert isinstance(found, ChanceReport) and found.completed == 3
    assert (found.best_accuracy, found.best_loss) == (0.25, 1.40)
    assert found.chance_loss == pytest.approx(math.log(4))
    text = found.describe()
    assert "all 3 completed trials sit at chance for 4 classes" in text
    assert "best val_accuracy 0.250 (chance 0.250)" in text and "(a uniform guess: 1.386)" in text


@pytest.mark.parametrize("metrics", [
    dict(val_accuracy=[0.25, 0.3, 0.5, 0.7], val_loss=[1.4, 1.2, 0.9, 0.7]),  # it learns
    dict(val_accuracy=0.40, val_loss=1.40),  # accuracy above 1.5 / classes (0.375)
    dict(val_accuracy=0.30, val_loss=1.20),  # loss below 0.9 * ln(classes)
])
def test_not_at_chance(tmp_path: Path, metrics: dict) -> None:
    assert report(tmp_path, **metrics) is None


def test_two_classes_at_70_percent_are_not_chance(tmp_path: Path) -> None:
    assert report(tmp_path, classes=2, val_accuracy=0.70, val_loss=0.55) is None
    assert report(tmp_path, classes=2, val_accuracy=0.52, val_loss=0.69) is not None


def settings(found: ChanceReport) -> str:
    return " | ".join(c.setting for c in found.causes)


def test_no_usual_cause_gives_the_data_check(tmp_path: Path) -> None:
    [cause] = report(tmp_path).causes
    assert cause.reason == "none of the usual causes fits this run"
    assert "class folder" in cause.setting


def test_few_images_per_class_suggest_a_pretrained_backbone(tmp_path: Path) -> None:
    found = report(tmp_path, per_class=8)
    assert "only 8 training images in the smallest class" in found.causes[0].reason
    assert settings(found).startswith("Search space → Backbone: a pretrained backbone")
    with_backbone = config()
    with_backbone.space = get_preset("pretrained")
    assert settings(report(tmp_path, with_backbone, per_class=8)) == "Data: more images per class"


def test_small_images_of_big_originals_suggest_the_image_size(tmp_path: Path) -> None:
    assert settings(report(tmp_path, config(size=32), side=None)).startswith("Data: check")
    assert settings(report(tmp_path, config(size=32), side=96)).startswith("Data: check")
    found = report(tmp_path, config(size=32), side=300)
    assert "shrunk to 32x32 px from originals of about 300 px" in found.causes[0].reason
    assert settings(found) == "Search → image size: 64 or more"


def test_a_high_learning_rate_range(tmp_path: Path) -> None:
    found = report(tmp_path, config(lr_max=0.1))
    assert "reaches 0.1 (above 0.01)" in found.causes[0].reason
    assert settings(found) == "Search space → Training: learning rate at most 0.01"
    tuned = config()
    tuned.space = get_preset("pretrained")
    tuned.space.backbone.learning_rate_max = 1e-2
    assert "fine-tune rate at most 0.001" in settings(report(tmp_path, tuned))
    tuned.space.backbone.trainable_top = [0]  # frozen: the rate cannot hurt the backbone
    assert "fine-tune" not in settings(report(tmp_path, tuned))


def test_few_epochs(tmp_path: Path) -> None:
    found = report(tmp_path, config(epochs=2), epochs=2)
    assert found.causes[0].reason == "trials trained at most 2 epochs so far (epochs per trial: 2)"
    assert settings(found) == "Search → epochs per trial: 10 or more"
    assert "epochs" in settings(report(tmp_path, config(epochs=20), epochs=3))  # Hyperband


def test_diverged_trials(tmp_path: Path) -> None:
    found = report(tmp_path, loss=[1.4, 2.0, 5.0, float("nan")])
    assert "did not fall in any trial" in found.causes[0].reason
    assert settings(found) == ("Search space → Training: a lower learning-rate range "
                               "(now 0.001 to 0.01)")


def test_memorizing_the_training_images(tmp_path: Path) -> None:
    found = report(tmp_path, accuracy=[0.5, 0.8, 0.95, 1.0])
    assert "training accuracy reached 1.00" in found.causes[0].reason
    assert "augmentation" in settings(found)


def test_images_per_class_and_original_side(tmp_path: Path) -> None:
    split = {"root": "r", "classes": ["a", "b", "c"],
             "train": [["x", 0]] * 30 + [["y", 1]] * 12 + [["z", 2]] * 40}
    assert images_per_class(split) == 12 and images_per_class(split, 0.5) == 6
    folder = write_image_folder(tmp_path / "big", {"a": 4, "b": 4}, size=80)
    saved = split_files(scan(folder), SplitConfig()).to_dict()
    assert original_side(saved) == 80.0
    assert original_side({**saved, "root": str(tmp_path / "gone")}) is None


def chance_run(image_folder: Path, trials: int = 3) -> Path:
    """A hand-made run of two classes whose completed trials sit at chance, with its split."""
    run_dir = make_run(runs_dir(), image_folder, trials=0, finished=False)
    run = RunDir(run_dir)
    run.save_split(split_files(scan(image_folder), run.config().split).to_dict())
    write_log(run.log_writer(), trials, val_accuracy=0.5, val_loss=0.70,
              loss=[0.9, 0.8, 0.75, 0.7])
    return run_dir


def test_run_chance_report_reads_the_run(clean_caches, image_folder: Path) -> None:
    run = RunDir(chance_run(image_folder))
    found = run_chance_report(run)
    assert found is not None and found.num_classes == 2 and found.completed == 3
    reasons = " | ".join(c.reason for c in found.causes)
    assert "training images in the smallest class" in reasons  # 12 images per class
    assert "(epochs per trial: 2)" in reasons  # make_run's settings
    assert "did not fall" not in reasons
    assert run_chance_report(RunDir(make_run(runs_dir(), image_folder))) is None  # no split


def test_the_cli_prints_the_report_once(clean_caches, image_folder: Path, capsys) -> None:
    run_dir = make_run(runs_dir(), image_folder, trials=0, finished=False)
    run = RunDir(run_dir)
    run.save_split(split_files(scan(image_folder), run.config().split).to_dict())
    log = run.log_writer()
    write_log(log, 2, val_accuracy=0.5, val_loss=0.70)
    reader = run.reader()
    printed, warned = main._print_progress(run, reader, 0, False)
    assert (printed, warned) == (2, False) and "warning" not in capsys.readouterr().out
    write_log(log, 1, start=2, val_accuracy=0.5, val_loss=0.70)
    printed, warned = main._print_progress(run, reader, printed, warned)
    out = capsys.readouterr().out
    assert (printed, warned) == (3, True)
    assert out.count("warning: This search learns nothing so far") == 1
    assert "Likely causes for this run:" in out and "pretrained backbone" in out
    write_log(log, 1, start=3, val_accuracy=0.5, val_loss=0.70)
    printed, warned = main._print_progress(run, reader, printed, warned)
    assert printed == 4 and "warning" not in capsys.readouterr().out


def test_monitor_warns_with_the_causes(clean_caches, image_folder: Path) -> None:
    make_run(runs_dir(), image_folder)  # older, learning
    at = new_app().run()
    at.switch_page("pages/monitor.py").run()
    assert not problems(at) and "learns nothing" not in live_text(at, "status")
    chance_run(image_folder)  # newer: the one the Monitor opens
    at = new_app().run()
    at.switch_page("pages/monitor.py").run()
    assert not problems(at)
    [warning] = [b for b in live_part(at, "status").blocks if "learns nothing" in b]
    assert "all 3 completed trials sit at chance for 2 classes" in warning
    assert "Search space → Backbone: a pretrained backbone" in warning
