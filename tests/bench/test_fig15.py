"""Figure 15 (classify throughput) is registered, cheap among the figures, and compares the
three runtimes the command offers."""

from __future__ import annotations


def test_figure_15_is_registered_and_measures_every_runtime() -> None:
    from bench.__main__ import MODULES, ORDER
    from bench.figures import fig15_classify as fig15
    from tuning_core.model.classify import ClassifyFormat

    assert MODULES[15] == "fig15_classify" and 15 in ORDER
    assert fig15.FULL["images"] >= 1000 > fig15.QUICK["images"]
    assert [f.value for f in ClassifyFormat] == ["keras", "onnx", "litert"]
    assert callable(fig15.measure)
