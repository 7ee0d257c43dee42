"""Figure 16's arithmetic (agents across namespaces), from hand-written lines and logs: no
namespaces, no processes, no training."""

from __future__ import annotations

import pytest

from bench.workers.agent_stats import (
    agent_of,
    cpu_seconds,
    first_all_busy,
    ratios_to_one,
    summarise,
    to_all_training,
)

# /proc/<pid>/stat with a command name holding a space and a ")": fields count from the last
STAT = ("4242 (py thon) x) S 1 4242 4242 0 -1 4194304 100 0 0 0 "
        "250 50 30 20 20 0 9 0 12345 1000000 500")


def test_cpu_seconds_counts_fields_from_the_names_last_parenthesis() -> None:
    assert cpu_seconds(STAT, ticks=100) == {"own": 3.0, "children": 0.5}


def test_an_agent_is_its_workers_name_less_the_slot() -> None:
    assert [agent_of(w) for w in ("a1-0", "lab-2-7-1", None, "chief")] == \
        ["a1", "lab-2-7", None, None]


def _start(time: float, worker: str | None) -> dict:
    return {"event": "trial_start", "time": time, "worker": worker}


def test_launch_to_all_training_waits_for_the_last_agents_first_trial() -> None:
    events = [_start(12.0, "a2-0"), _start(13.0, "a2-0"), _start(15.5, "a1-0"),
              _start(16.0, None)]
    assert to_all_training(events, 10.0, 2) == pytest.approx(5.5)
    assert to_all_training(events, 10.0, 1) == pytest.approx(2.0)
    assert to_all_training(events, 10.0, 3) is None  # a third agent never trained


def test_the_polled_locks_give_the_first_sample_with_every_agent_busy() -> None:
    samples = [(11.0, 0), (11.1, 1), (11.2, 3), (11.3, 2)]
    assert first_all_busy(samples, 10.0, 3) == pytest.approx(1.2)
    assert first_all_busy(samples, 10.0, 4) is None


def _run(repeat: int, agents: int, per_hour: float, cpu: float | None = 0.5) -> dict:
    return {"repeat": repeat, "agents": agents, "per_hour": per_hour, "steady_per_hour": 1.0,
            "chief_cpu_per_trial": cpu, "chief_cpu_after_start": None,
            "chief_startup_cpu_s": 1.0, "to_all_s": 9.0 + agents, "to_all_locks_s": None,
            "trial_median_s": 4.0}


RUNS = [_run(1, 1, 100), _run(1, 2, 150), _run(1, 3, 160),
        _run(2, 2, 210), _run(2, 1, 200), _run(2, 3, 360, None)]


def test_ratios_are_to_one_agent_of_the_same_repeat() -> None:
    ratios = ratios_to_one(RUNS)
    assert ratios[1] == [1.0, 1.0]
    assert ratios[2] == pytest.approx([1.5, 1.05])
    assert ratios[3] == pytest.approx([1.6, 1.8])


def test_the_summary_is_a_row_per_agent_count_of_medians_and_spread() -> None:
    rows = {row["agents"]: row for row in summarise(RUNS)}
    assert sorted(rows) == [1, 2, 3] and rows[3]["repeats"] == 2
    assert rows[1]["trials/h"] == "150 (100-200)"
    assert rows[3]["vs 1 agent"] == "1.70 (1.60-1.80)"
    assert rows[3]["chief CPU s/trial"] == "0.500 (0.500-0.500)"  # the missing one left out
    assert rows[2]["(worker locks) s"] == "-" and rows[2]["steady trials/h"] == "1 (1-1)"
    assert summarise([]) == []


def test_figure_16_is_registered_and_its_quick_mode_is_smaller() -> None:
    from bench.__main__ import MODULES, ORDER
    from bench.figures import fig16_agents as fig16

    assert MODULES[16] == "fig16_agents" and 16 in ORDER and sorted(ORDER) == sorted(MODULES)
    assert fig16.QUICK["repeats"] * fig16.QUICK["max_trials"] < \
        fig16.FULL["repeats"] * fig16.FULL["max_trials"]


def test_without_root_the_lab_says_why_instead_of_half_making_namespaces(monkeypatch) -> None:
    import os

    from bench.harness.netns import Lab, NetnsUnavailable, unavailable_reason

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "root" in (unavailable_reason() or "")
    lab = Lab(peers=1, tag="never")
    with pytest.raises(NetnsUnavailable, match="root"), lab:
        pass
    assert lab.made == []


@pytest.mark.training
def test_a_tiny_figure_runs_across_namespaces_and_leaves_none_behind(tmp_path) -> None:
    """One 1-agent search and a link cut in a real lab (root only): the harness stays
    whole, the cut trial ends once, and every namespace it made is gone after."""
    import os
    import subprocess

    from bench.harness.netns import unavailable_reason
    from bench.workers.agent_runs import measure_agents

    if reason := unavailable_reason():
        pytest.skip(reason)
    tiny = {"repeats": 1, "max_trials": 2, "epochs": 1, "order": (1,), "cut_trials": 2,
            "cut_epochs": 2, "cut_after_s": 0.5}
    runs, cut = measure_agents(tiny, 16, tmp_path / "fig16")
    assert [(r["agents"], r["trials"]) for r in runs] == [(1, 2)]
    assert runs[0]["chief_cpu_per_trial"] > 0 and runs[0]["to_all_s"] > 0
    assert cut["problems"] == [] and cut["notice_s"] is not None, cut
    assert (cut["trials_lost"], cut["duplicates"], cut["ended"]) == (0, 0, 2), cut
    assert cut["agent_exit_codes"] == [0, 0, 0]
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"bf{os.getpid() % 10000}-" not in left
