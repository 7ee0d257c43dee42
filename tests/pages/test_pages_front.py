"""AppTest of choosing by cost: the Pareto charts on Monitor, Best and Compare, 'Retrain
this trial' and the limits rule (no training: the retrain is a stand-in that records)."""

from __future__ import annotations

from pathlib import Path

from tests.pages.support import (
    click,
    make_run,
    new_app,
    plotly_specs,
    problems,
)
from tuning_core.core.workspace import runs_dir
from tuning_core.jobs.registry import JobRegistry, install_registry
from tuning_core.live.content import COST_CHARTS_AT_ONCE
from tuning_core.runs.rundir import RunDir


def costed_run(image_folder: Path, latencies=(3.0, 1.0, 2.0)) -> Path:
    """Three trials, val_loss .5, .6, .7 (lower is better) at these latencies."""
    run = make_run(runs_dir(), image_folder, trials=len(latencies))
    log = RunDir(run).log_writer()
    for i, ms in enumerate(latencies):
        log.write("trial_cost", trial_id=f"{i:02d}", params=1000 * (i + 1), macs=10_000,
                  model_bytes=8000, latency_ms=ms, threads=1)
    return run


class Retrains:
    """A retrain runner that records what it was asked to retrain."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, run_dir: Path, epochs: int, rank: int, trial_id: str | None = None):
        self.calls.append((Path(run_dir).name, epochs, rank, trial_id))


def front_traces(spec: dict) -> dict[str, list]:
    return {trace["name"]: trace["x"] for trace in spec["data"]}


def test_monitor_draws_the_front_against_latency_and_parameters(clean_caches, image_folder):
    costed_run(image_folder)
    at = new_app().run()
    at.switch_page("pages/monitor.py").run()
    titles = {s["layout"]["title"]["text"]: s for s in plotly_specs(at)}
    latency, params = titles["val_loss against cpu latency"], titles["val_loss against parameters"]
    assert front_traces(latency) == {"dominated": [2.0], "Pareto front": [1.0, 3.0]}
    assert params["layout"]["xaxis"]["type"] == "log"
    assert [link.proto.page for link in at.get("page_link")] == ["best"]  # retrain there


def test_monitor_draws_a_large_runs_cost_charts_when_they_are_opened(clean_caches,
                                                                      image_folder):
    trials = COST_CHARTS_AT_ONCE + 1
    run = costed_run(image_folder, latencies=[1.0 + i % 7 for i in range(trials)])
    at = new_app().run()
    at.switch_page("pages/monitor.py").run()
    assert not problems(at)
    titles = [s["layout"]["title"]["text"] for s in plotly_specs(at)]
    costs = ("val_loss against cpu latency", "val_loss against parameters")
    assert len(titles) == 4 and not set(costs) & set(titles), titles
    assert [e for e in at.expander if e.label == "Draw the two charts"]
    assert f"Past {COST_CHARTS_AT_ONCE:,} completed trials" in " ".join(c.value for c in at.caption)
    at.session_state[f"monitor_cost_{run.name}"] = True  # opened, as a click does
    at.run()
    titles = [s["layout"]["title"]["text"] for s in plotly_specs(at)]
    assert len(titles) == 6 and set(costs) <= set(titles), titles


def test_best_page_retrains_the_trial_picked_on_the_front(clean_caches, image_folder):
    run = costed_run(image_folder)
    retrains = Retrains()
    registry = install_registry(JobRegistry(runs_dir(), retrain=retrains))
    at = new_app().run()
    at.switch_page("pages/best.py").run()
    assert not problems(at)
    [spec] = [s for s in plotly_specs(at) if s["layout"]["title"]["text"].endswith("latency")]
    assert front_traces(spec)["Pareto front"] == [1.0, 3.0]
    picker = at.selectbox(key="front.trial")
    assert picker.value == "01" and picker.options[0].endswith("on the front")
    picker.set_value("02").run()
    click(at, "Retrain this trial")
    assert registry.wait(10) and retrains.calls == [(run.name, 30, 1, "02")]


def test_best_page_retrains_the_best_within_limits_and_says_what_it_gave_up(clean_caches,
                                                                          image_folder):
    run = costed_run(image_folder)
    retrains = Retrains()
    registry = install_registry(JobRegistry(runs_dir(), retrain=retrains))
    at = new_app().run()
    at.switch_page("pages/best.py").run()
    at.number_input(key="w:front.max_ms").set_value(2.5).run()
    click(at, "Retrain the best within limits")
    assert not problems(at) and not at.error, [e.value for e in at.error]
    assert registry.wait(10)
    assert retrains.calls == [(run.name, 30, 1, "01")]  # 0.6 at 1 ms; 0.5 takes 3 ms
    assert "gives up 0.1000 val_loss against the best, trial 1" in at.info[0].value


def test_compare_draws_one_front_over_the_runs(clean_caches, image_folder):
    costed_run(image_folder, (3.0, 1.0, 2.0))
    costed_run(image_folder, (0.5, 9.0, 9.5))
    at = new_app().run()
    at.switch_page("pages/compare.py").run()
    assert not problems(at)
    [spec] = [s for s in plotly_specs(at) if "against" in s["layout"]["title"]["text"]]
    traces = front_traces(spec)
    assert traces["Pareto front"] == [0.5]  # the second run's first trial beats all the rest
    assert sorted(traces["dominated"]) == [1.0, 2.0, 3.0, 9.0, 9.5]
