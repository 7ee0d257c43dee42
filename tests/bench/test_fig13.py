"""Figure 13's bookkeeping on hand-made folders and logs (nothing trained)."""

from __future__ import annotations

from pathlib import Path

from bench.figures import fig13_choose as fig13
from tests.pages.support import make_run
from tuning_core.runs.rundir import RunDir


def test_the_planted_noise_is_read_from_the_file_names(tmp_path: Path) -> None:
    for folder, name in (("3", "3_0001.png"), ("3", "5_0002.png"), ("5", "5_0003.png")):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / name).write_bytes(b"")
    assert fig13.moved_files(tmp_path) == {"3/5_0002.png"}


def test_cost_rows_and_the_measuring_share(tmp_path: Path, image_folder: Path) -> None:
    run = make_run(tmp_path / "runs", image_folder, trials=2)
    RunDir(run).log_writer().write("trial_cost", trial_id="00", params=10, macs=20,
                                   model_bytes=2048, latency_ms=1.5, threads=2, measure_s=0.5)
    rows = fig13.cost_rows(run)
    assert rows == [{"trial": 1, "trial_s": 1.0, "measure_s": 0.5, "latency_ms": 1.5,
                     "params": 10, "macs": 20, "model_kb": 2.0}]  # trial 2 has no cost
    assert fig13.measuring_share(rows, 10.0) == 0.05
