"""The synthetic lab workspace: made by the project's writers, read back by its readers."""

from __future__ import annotations

from pathlib import Path

from bench.workloads.labyear import Shape, make_workspace
from tuning_core.core.states import RunStatus
from tuning_core.runs.catalogue import list_runs
from tuning_core.runs.rundir import RunDir


def test_a_small_workspace_reads_back_like_a_real_one(tmp_path: Path) -> None:
    sweeps = make_workspace(tmp_path, Shape(runs=21, small_trials=3, sweeps=(40,), epochs=4))
    infos = list_runs(tmp_path / "runs")
    assert len(infos) == 22
    statuses = {info.status for info in infos}
    assert statuses == {RunStatus.FINISHED, RunStatus.INTERRUPTED}
    sweep = RunDir(sweeps["sweep-40"])
    trials, epochs = sweep.reader().trials(), sweep.reader().epochs()
    assert len(trials) == 40 and trials["status"].isin(["completed", "failed"]).all()
    done = trials[trials["status"] == "completed"]
    assert (done["epochs"] == 4).all() and done["latency_ms"].notna().all()
    assert len(epochs) == 4 * len(done)
    assert sum(bool(RunDir(i.run.path).notes().tags) for i in infos) == 2
    # trained once, as a search leaves a run: its lock file there, held by nobody
    assert all(i.run.lock().lock_path.exists() and i.holder is None for i in infos)


def test_the_same_shape_makes_the_same_trials(tmp_path: Path) -> None:
    shape = Shape(runs=0, sweeps=(15,), epochs=2, seed=4)
    first = make_workspace(tmp_path / "a", shape, now=1e9)["sweep-15"]
    second = make_workspace(tmp_path / "b", shape, now=1e9)["sweep-15"]
    columns = ["trial_id", "status", "score", "hp:learning_rate"]
    a, b = (RunDir(p).reader().trials()[columns] for p in (first, second))
    assert a.equals(b)
