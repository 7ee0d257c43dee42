"""The time-budget planner: cost model, Hyperband's schedule, the plan, and the pace check."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from tuning_core.analysis import planner
from tuning_core.analysis.planner import DataShape, SearchPlan, plan_search, run_pace, trial_epochs
from tuning_core.core.errors import SettingsError
from tuning_core.data.dataset import ImageConfig, scan
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.space.presets import get_preset

DIGITS = DataShape(images=1797, native_size=32, classes=10, channels=1)
PHOTOS = DataShape(images=600, native_size=400, classes=37, channels=3)


def _config(preset: str = "small", **tuner) -> RunConfig:
    return RunConfig(data_dir="x", space=get_preset(preset), tuner=TunerSettings(**tuner))


def test_reference_cost_is_figure_7_at_its_sizes_and_grows_between_them() -> None:
    for size, seconds in planner.REFERENCE_SECONDS.items():
        assert planner.reference_seconds(size) == pytest.approx(seconds)
    costs = [planner.reference_seconds(s) for s in (16, 24, 32, 48, 64, 96, 128, 200, 256, 400)]
    assert costs == sorted(costs) and costs[0] > 0


def test_hyperband_schedule_is_kerastuners_own() -> None:
    """Sizes and epochs per round from KerasTuner's oracle; later rounds train the increment."""
    from keras_tuner.src.tuners.hyperband import HyperbandOracle

    settings = TunerSettings(tuner="hyperband", epochs=12, hyperband_factor=3)
    oracle = HyperbandOracle(objective="val_loss", max_epochs=12, factor=3)
    expected = []
    for bracket in reversed(range(oracle._get_num_brackets())):
        before = 0
        for rnd in range(oracle._get_num_rounds(bracket)):
            epochs = oracle._get_epochs(bracket, rnd)
            expected += [epochs - before] * oracle._get_size(bracket, rnd)
            before = epochs
    assert list(trial_epochs(settings)) == expected and len(expected) == 30
    random = trial_epochs(TunerSettings(tuner="random", epochs=7, executions_per_trial=2))
    assert [next(random) for _ in range(3)] == [14, 14, 14]


def test_bigger_models_cost_more_and_a_frozen_backbone_less_than_a_tuned_one() -> None:
    small, tutorial = get_preset("small"), get_preset("tutorial")
    assert planner.model_macs(tutorial, 64, 3, 10) > 2 * planner.model_macs(small, 64, 3, 10)
    assert planner.model_macs(small, 64, 3, 10) > planner.model_macs(small, 32, 3, 10)
    net = get_preset("pretrained")
    frozen = replace(net, backbone=replace(net.backbone, trainable_top=[0]))
    tuned = replace(net, backbone=replace(net.backbone, trainable_top=[20]))
    assert planner.model_macs(frozen, 96, 3, 10) < planner.model_macs(tuned, 96, 3, 10)


def test_a_plan_grows_with_the_budget_and_never_upscales() -> None:
    config = _config(tuner="random", epochs=10)
    short, long = plan_search(DIGITS, config, 2), plan_search(DIGITS, config, 20)
    assert long.trials > short.trials >= 1
    assert short.image_size == long.image_size == 32  # the digits are 32 px
    assert short.total_seconds <= 2 * 60 and long.total_seconds <= 20 * 60
    wide = [plan_search(PHOTOS, config, m).image_size for m in (3, 30, 600)]
    assert wide == sorted(wide) and wide[-1] == max(planner.SIZES) and wide[0] < wide[-1]


def test_a_tight_budget_says_so_and_a_fixed_image_size_is_kept() -> None:
    plan = plan_search(PHOTOS, _config("tutorial", tuner="random", epochs=20), 1)
    assert plan.image_size == min(planner.SIZES) and plan.trials < planner.MIN_TRIALS
    assert "The budget is tight" in plan.describe()
    fixed = plan_search(PHOTOS, _config(), 30, image_size=64)
    assert fixed.image_size == 64
    for bad in (0, -3, "ten", True):
        with pytest.raises(SettingsError, match="positive number of minutes"):
            plan_search(DIGITS, _config(), bad)


def test_hyperband_stops_at_its_whole_schedule() -> None:
    plan = plan_search(DIGITS, _config(), 600)
    assert plan.trials == len(list(trial_epochs(TunerSettings())))
    assert "whole schedule fits" in plan.describe()


def test_apply_sets_size_trials_and_a_search_limit_and_survives_run_json() -> None:
    config = _config(tuner="random", epochs=5)
    plan = plan_search(PHOTOS, config, 10)
    fitted = plan.apply(config)
    assert fitted.image.image_size == plan.image_size
    assert fitted.tuner.max_trials == plan.trials
    assert 0 < fitted.tuner.max_minutes < 10 and fitted.tuner.max_minutes == pytest.approx(
        plan.search_minutes, abs=0.01)
    again = RunConfig.from_dict(fitted.to_dict())
    assert SearchPlan.from_dict(again.plan) == plan
    assert RunConfig.from_dict(config.to_dict()).plan is None
    assert SearchPlan.from_dict({"minutes": 3}) is None  # another version's plan: no pace


def test_plan_for_reads_the_folder(image_folder: Path) -> None:
    config = RunConfig(data_dir=str(image_folder), space=get_preset("small"),
                       image=ImageConfig(16, "rgb"))
    plan = planner.plan_for(config, 5)
    assert plan.native_size == 16 and plan.image_size == 32 and plan.train_images > 0
    assert planner.plan_for(config, 5, scan(image_folder)) == plan


def _budget_run(tmp_path: Path, epoch_seconds: list[float]) -> RunDir:
    config = _config(tuner="random", epochs=4)
    config = plan_search(DIGITS, config, 10).apply(replace(config, image=ImageConfig(32, "rgb")))
    run = RunDir.create(tmp_path / "runs", config)
    log = run.log_writer()
    log.write("search_start")
    for k, seconds in enumerate(epoch_seconds):
        trial = f"{k // 4:02d}"
        if k % 4 == 0:
            log.write("trial_start", trial_id=trial, number=run.trial_number(trial),
                      hyperparameters={})
        log.write("epoch_end", trial_id=trial, execution=0, epoch=k % 4, seconds=seconds,
                  metrics={"loss": 1.0, "val_loss": 1.0})
        if k % 4 == 3:
            log.write("trial_end", trial_id=trial, status="completed", score=1.0, seconds=1.0)
    return run


def test_pace_says_when_the_estimate_holds_and_when_it_does_not(tmp_path: Path) -> None:
    plan = SearchPlan.from_dict(_budget_run(tmp_path / "a", []).config().plan)
    assert run_pace(_budget_run(tmp_path / "b", [plan.epoch_seconds])) is None  # one epoch
    held = run_pace(_budget_run(tmp_path / "c", [9.0] + [plan.epoch_seconds] * 7))
    assert held.trials_done == 2 and held.ratio == pytest.approx(1.0)  # tracing epochs left out
    assert "as estimated" in held.describe() and held.expected_trials == plan.trials
    slow = run_pace(_budget_run(tmp_path / "d", [3 * plan.epoch_seconds] * 8))
    assert slow.ratio == pytest.approx(3.0) and slow.expected_trials < plan.trials
    assert f"of the {plan.trials} planned trials" in slow.describe()
    late = run_pace(_budget_run(tmp_path / "e", [plan.epoch_seconds] * 8),
                    now=time.time() + plan.search_minutes * 60 + 5)
    assert "budget is spent" in late.describe()


def test_a_run_without_a_plan_has_no_pace(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "runs", _config())
    run.log_writer().write("search_start")
    assert run_pace(run) is None


def test_the_cli_fits_a_search_to_minutes_and_explicit_flags_win(image_folder: Path,
                                                                 capsys) -> None:
    from tuning_core.cli.main import build_parser, config_from_args

    base = ["search", "--data", str(image_folder), "--runs-dir", "r", "--tuner", "random"]
    fitted = config_from_args(build_parser().parse_args([*base, "--minutes", "4"]))
    plan = SearchPlan.from_dict(fitted.plan)
    assert plan.minutes == 4 and fitted.tuner.max_trials == plan.trials
    assert fitted.image.image_size == plan.image_size and fitted.tuner.max_minutes < 4
    assert capsys.readouterr().out.startswith("plan: In about 4 min:")
    mine = config_from_args(build_parser().parse_args(
        [*base, "--minutes", "4", "--max-trials", "3", "--image-size", "48",
         "--max-minutes", "2"]))
    assert (mine.tuner.max_trials, mine.image.image_size, mine.tuner.max_minutes) == (3, 48, 2)
    assert config_from_args(build_parser().parse_args(base)).plan is None
