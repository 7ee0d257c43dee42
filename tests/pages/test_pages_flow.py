"""The scripted user journey through the pages, training for real (tiny): sample data, a preset,
a 2-trial 1-epoch search at 16x16, trial rows appearing on Monitor, a 1-epoch retrain."""

from __future__ import annotations

import time

import pytest

from tests.pages.support import (
    click,
    live_part,
    live_table,
    new_app,
    problems,
)
from tuning_core.core.workspace import runs_dir
from tuning_core.jobs.registry import get_registry


def poll_until(at, condition, seconds: float = 240.0, page: str | None = None):
    """Rerun the app (run_every never fires under AppTest) until ``condition(at)`` holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if page:
            at.switch_page(page)
        at.run()
        assert not problems(at)
        if condition(at):
            return at
        time.sleep(1.0)
    raise AssertionError("the condition never held")


def set_number(at, key: str, value) -> None:
    at.number_input(key=key).set_value(value)


@pytest.mark.training
def test_sample_data_to_tested_best_model(clean_caches):
    at = new_app().run()
    click(at, "Use sample dataset")
    assert {m.label: m.value for m in at.metric}["Classes"] == "10"
    set_number(at, "w:data.image_size", 16)
    set_number(at, "w:data.subset", 0.3)
    at.run()
    assert not problems(at) and not at.error

    at.switch_page("pages/space.py").run()
    at.selectbox(key="w:space.preset").set_value("small")
    click(at, "Apply preset")
    assert not problems(at) and at.success  # "The space is valid."

    at.switch_page("pages/search.py").run()
    at.radio(key="w:search.tuner").set_value("random")
    set_number(at, "w:search.max_trials", 2)
    set_number(at, "w:search.epochs", 1)
    at.run()
    click(at, "Launch search")
    click(at, "Confirm launch")
    assert not problems(at) and not at.error, [e.value for e in at.error]
    registry = get_registry(runs_dir())
    assert registry.active_run() is not None

    poll_until(at, lambda a: len(live_table(a)) >= 1, page="pages/monitor.py")
    assert registry.wait(300)
    at = new_app().run()
    at.switch_page("pages/monitor.py").run()
    assert live_part(at, "status").metrics["Completed"] == "2"

    at.switch_page("pages/best.py").run()
    set_number(at, "w:best.epochs", 1)
    at.run()
    click(at, "Retrain best model")
    assert not problems(at) and not at.error, [e.value for e in at.error]
    assert registry.wait(300)
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert 0.0 <= float(metrics["Test accuracy"]) <= 1.0
    assert float(metrics["Test loss"]) >= 0.0
    assert "Download model (.keras)" in {b.label for b in at.get("download_button")}
