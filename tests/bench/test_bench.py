"""The benchmark helpers on tiny inputs (nothing timed, nothing trained)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.harness import report
from bench.harness.common import FigureResult, hold_out, labelled_files, median
from tests.conftest import write_image_folder


def _figure(number: int, met: bool | None) -> FigureResult:
    return FigureResult(number, f"figure {number}", "ratio <= 1.10", "ratio 1.02", met,
                        rows=[{"way": "a|b", "s": 1.5}], notes=["a note"], seconds=3.0)


def test_figure_result_round_trips() -> None:
    figure = _figure(2, True)
    assert FigureResult.from_dict(figure.to_dict()) == figure


def test_median_of_an_empty_list_is_an_error() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError):
        median([])


def test_markdown_table_escapes_pipes_and_keeps_column_order() -> None:
    table = report.markdown_table([{"b": 1, "a": "x|y"}, {"b": 2, "a": "z"}])
    assert table.splitlines() == ["| b | a |", "|---|---|", "| 1 | x\\|y |", "| 2 | z |"]


def test_results_page_says_which_goals_are_met() -> None:
    figures = [_figure(1, True), _figure(2, False), _figure(7, None)]
    text = report.render(figures, {"cpu cores": 2}, "--quick", 90.0, extra=["extra line"],
                         patched=[_figure(2, True)])
    assert "1 of 2 goals met" in text and "### 2. figure 2, patched: met" in text
    assert "## 2. figure 2: NOT met" in text and "## 7. figure 7: informs" in text
    assert "| cpu cores | 2 |" in text and text.rstrip().endswith("extra line")
    assert "figure 1" in report.text_table(figures)


def test_machine_info_names_cores_and_libraries() -> None:
    info = report.machine()
    assert info["cpu cores"] >= 1 and "keras-tuner" in info


def test_hold_out_is_stratified_and_disjoint(tmp_path: Path) -> None:
    source = write_image_folder(tmp_path / "src", classes={"a": 20, "b": 8})
    train, holdout = hold_out(source, tmp_path / "split", fraction=0.25)
    kept, classes = labelled_files(train)
    held, _ = labelled_files(holdout)
    assert classes == ["a", "b"]
    assert [sum(1 for _, k in held if k == i) for i in (0, 1)] == [5, 2]
    assert len(kept) + len(held) == 28 and not {p for p, _ in kept} & {p for p, _ in held}


def test_synthetic_trial_log_reads_and_draws(tmp_path: Path) -> None:
    from bench.figures import fig06_data_path as fig6

    path = tmp_path / "trials.jsonl"
    assert fig6.write_log(path, trials=6, epochs=3) > 0
    stages = fig6.cold(path)
    assert set(stages) == {"read", "figures", "importance", "total"}
    assert len(fig6.idle_poll(path, polls=3)) == 3


def test_fixed_space_is_valid_and_one_model() -> None:
    from bench.workloads.fixed_model import fixed_space
    from tuning_core.space.schema import check
    from tuning_core.space.size import space_size

    space = fixed_space()
    check(space)
    assert space_size(space).combinations == 1


def test_patches_apply_by_name() -> None:
    from bench.harness import patches

    applied: list[str] = []
    patches.patch("bench-test")(lambda: applied.append("bench-test"))
    try:
        patches.apply(["bench-test"])
        assert applied == ["bench-test"]
        with pytest.raises(KeyError, match="unknown patch"):
            patches.apply(["no-such-patch"])
    finally:
        patches.PATCHES.pop("bench-test")


def test_figure_12_is_registered_and_its_spaces_are_valid() -> None:
    from bench.__main__ import MODULES, ORDER
    from bench.figures import fig12_exports as fig12
    from tuning_core.space.schema import check, check_for_image

    assert MODULES[12] == "fig12_exports" and 12 in ORDER
    for backbone in (False, True):
        space = fig12._space(backbone)
        check(space)
        for sizes in (fig12.QUICK, fig12.FULL):
            check_for_image(space, sizes["backbone px" if backbone else "cnn px"])
    assert fig12._space(False).training.zoom.value == "on"
