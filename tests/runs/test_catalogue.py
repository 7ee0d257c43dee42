"""Run settings round-trip, run folders, statuses, and the engine's independence from the UI."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import pytest

from tuning_core.core.errors import RunError, SettingsError
from tuning_core.core.states import RunStatus
from tuning_core.data.dataset import ImageConfig, SplitConfig
from tuning_core.runs import layout
from tuning_core.runs.catalogue import (
    create_run,
    delete_run,
    list_runs,
    load_config,
    prune_run,
    summarize,
)
from tuning_core.runs.locks import LockHolder
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.runs.triallog import TrialLogWriter
from tuning_core.space.presets import get_preset

CORE = Path(__file__).resolve().parents[2] / "tuning_core"


def _config(**tuner: object) -> RunConfig:
    return RunConfig(data_dir="/data", space=get_preset("small"), split=SplitConfig(seed=3),
                     image=ImageConfig(24, "grayscale"), tuner=TunerSettings(**tuner),
                     name="My run")


def test_run_config_round_trips_through_run_json(tmp_path: Path) -> None:
    config = _config(tuner="bayesian", max_trials=7, max_minutes=2.5)
    run_dir = create_run(tmp_path, config)
    loaded = load_config(run_dir)
    assert loaded.to_dict() == config.to_dict()
    assert run_dir.name.endswith("my-run")
    assert create_run(tmp_path, config) != run_dir  # same second, still a new folder


@pytest.mark.parametrize("change, field", [
    ({"tuner": "magic"}, "tuner"), ({"objective": "accuracy"}, "objective"),
    ({"max_trials": 0}, "max_trials"), ({"epochs": 1.5}, "epochs"),
    ({"keep_top": 0}, "keep_top"), ({"max_minutes": -1}, "max_minutes"),
])
def test_tuner_settings_name_the_bad_field(change: dict, field: str) -> None:
    with pytest.raises(SettingsError, match=field):
        TunerSettings(**change).validate()


def test_unreadable_run_folders(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not a run folder"):
        load_config(tmp_path)
    (tmp_path / "run.json").write_text("{broken")
    with pytest.raises(RunError, match="cannot be read"):
        load_config(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(RunError, match="schema_version"):
        load_config(tmp_path)


def test_status_comes_from_the_log(tmp_path: Path) -> None:
    run_dir = create_run(tmp_path, _config())
    assert summarize(run_dir).status is RunStatus.NEW
    writer = TrialLogWriter(run_dir / "trials.jsonl")
    writer.write("search_start", max_trials=30)
    assert summarize(run_dir).status is RunStatus.INTERRUPTED
    lock = RunDir(run_dir).lock()
    lock.acquire(LockHolder.mine("search", "alice", run_dir.name))  # someone trains it
    try:
        info = summarize(run_dir)
        assert info.status is RunStatus.RUNNING and info.holder.user == "alice"
    finally:
        lock.release()
    writer.write("trial_start", trial_id="0", number=1, hyperparameters={"lr": 0.1})
    writer.write("trial_end", trial_id="0", status="completed", score=0.8, seconds=1)
    writer.write("search_end", status="budget")
    info = summarize(run_dir)
    assert info.status is RunStatus.BUDGET and info.status.is_resumable()
    assert info.status.label == "time budget spent"
    assert info.trials_done == 1 and info.best_score == 0.8  # val_accuracy: higher is better
    assert not RunStatus.FINISHED.is_resumable()


def test_list_and_delete_runs(tmp_path: Path) -> None:
    first = create_run(tmp_path, _config())
    (tmp_path / "not-a-run").mkdir()
    assert [info.run.path for info in list_runs(tmp_path)] == [first.resolve()]
    with pytest.raises(RunError, match="nothing was deleted"):
        delete_run(tmp_path / "not-a-run", tmp_path)
    with pytest.raises(RunError):
        delete_run(first, tmp_path / "elsewhere")
    delete_run(first, tmp_path)
    assert not first.exists() and list_runs(tmp_path) == []


def test_listed_runs_have_their_real_paths_through_links(tmp_path: Path) -> None:
    """Runs are listed with the path a run folder object resolves to, whether the runs
    folder is named through a link or a run folder is a link to elsewhere."""
    (tmp_path / "runs").mkdir()
    plain = create_run(tmp_path / "runs", _config())
    away = create_run(tmp_path / "elsewhere", _config(tuner="bayesian"))
    (tmp_path / "runs" / "linked").symlink_to(away)
    (tmp_path / "via").symlink_to(tmp_path / "runs")
    listed = {info.run.path for info in list_runs(tmp_path / "via")}
    assert listed == {RunDir(plain).path, RunDir(away).path} == {plain.resolve(), away.resolve()}


def test_engine_never_imports_streamlit() -> None:
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "streamlit" for n in names), path.name


def test_prune_run_uses_the_runs_own_settings(tmp_path: Path) -> None:
    run_dir = create_run(tmp_path, _config(keep_top=1, objective="val_loss"))
    for trial_id, score in (("0", 0.2), ("1", 0.1)):
        trial = run_dir / "tuner" / f"trial_{trial_id}"
        trial.mkdir(parents=True)
        (trial / "trial.json").write_text(json.dumps(
            {"trial_id": trial_id, "score": score, "status": "COMPLETED"}))
        (trial / "checkpoint.weights.h5").write_bytes(b"w")
    result = prune_run(run_dir)
    assert result.kept == ["1"] and result.removed == ["0"]  # val_loss: lower is better
    with pytest.raises(RunError, match="keep at least 1"):
        prune_run(run_dir, 0)


def test_disk_sizes_are_walked_once_per_change_not_per_viewer(tmp_path: Path) -> None:
    from tuning_core.runs.catalogue import DiskSizes

    run = RunDir(create_run(tmp_path, _config()))
    walks: list[Path] = []
    now = [0.0]

    def walk(path: Path) -> int:  # a size per walk, plus the index (which is left out)
        walks.append(path)
        index = path / "index.json"
        return 100 * len(walks) + (index.stat().st_size if index.exists() else 0)

    sizes = DiskSizes(walk, clock=lambda: now[0])
    assert [sizes.get(run, training=False) for _ in range(5)] == [100] * 5  # five viewers
    TrialLogWriter(run.log_path).write("search_start", max_trials=2, tuner="random")
    assert sizes.get(run, training=False) == 200  # the log moved: walked again
    now[0] += DiskSizes.TTL_S[False] + 1
    assert sizes.get(run, training=False) == 300  # too old
    assert sizes.get(run, training=True) == 400  # started training: another state
    TrialLogWriter(run.log_path).write("trial_start", trial_id="00", number=1,
                                       hyperparameters={})
    now[0] += DiskSizes.TTL_S[True] - 1
    assert sizes.get(run, training=True) == 400  # training writes all the time: kept a while
    now[0] += 2
    assert sizes.get(run, training=True) == 500
    sizes.forget(run.path)  # pruned or deleted here
    assert sizes.get(run, training=True) == 600 and len(walks) == 6


def test_a_fresh_list_takes_the_index_size_and_walks_it_a_ttl_later(tmp_path: Path) -> None:
    """A fresh server's first list of 1,000 runs walks none of them beside the page's first
    draw: the size the index kept from an earlier walk is shown, and walked again (in the
    background) when it is asked for after a ``ttl``; a run the index knows no size of, or
    a training one, is walked in the background at once."""
    from tuning_core.runs.catalogue import DiskSizes

    known, unknown = (RunDir(create_run(tmp_path, _config())) for _ in range(2))
    walks: list[Path] = []
    now = [0.0]
    sizes = DiskSizes(lambda path: walks.append(path) or 700, clock=lambda: now[0])
    assert sizes.get(known, training=False, wait=False, known=500) == 500
    assert sizes.get(known, training=False, wait=False, known=500) == 500 and walks == []
    assert sizes.get(unknown, training=False, wait=False, known=None) is None
    now[0] += DiskSizes.TTL_S[False] + 1
    assert sizes.get(known, training=False, wait=False, known=500) == 500  # the last known
    deadline = time.monotonic() + 10
    while len(walks) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # the background walks
    assert sorted(walks) == sorted([known.path, unknown.path])
    assert sizes.get(known, training=False, wait=False, known=500) == 700  # walked since
    assert sizes.get(known, training=True, wait=False, known=500) == 700  # training: walks


def test_a_prune_shows_its_freed_space_in_the_list_at_once(tmp_path: Path) -> None:
    run = RunDir(create_run(tmp_path, _config()))
    for i in range(3):
        trial = run.project_dir / f"trial_{i}"
        trial.mkdir(parents=True)
        (trial / "checkpoint.weights.h5").write_bytes(b"x" * 10_000)
        (trial / "trial.json").write_text(json.dumps(
            {"trial_id": str(i), "status": "COMPLETED", "score": 0.5 + i / 10,
             "metrics": {"metrics": {}}}))
    before = list_runs(tmp_path)[0].bytes
    freed = prune_run(run.path, keep_top=1).bytes_freed
    assert freed > 0 and list_runs(tmp_path)[0].bytes == before - freed


def test_active_runs_are_the_runs_whose_lock_is_held(tmp_path: Path) -> None:
    from tuning_core.runs.catalogue import active_runs

    trained, never, was = (RunDir(create_run(tmp_path, _config())) for _ in range(3))
    (tmp_path / "not-a-run").mkdir()
    for name in ("owner.lock", "owner.json"):
        (tmp_path / "not-a-run" / name).write_text("{}")
    once = was.lock()
    once.acquire(LockHolder.mine("search", target=was.name))
    once.release()  # trained once: its lock file stays, held by nobody
    assert once.lock_path.exists() and not once.holder_path.exists()
    lock = trained.lock()
    lock.acquire(LockHolder.mine("search", target=trained.name))
    assert lock.holder_path.name == layout.HOLDER_FILE  # what active_runs looks for
    try:
        assert [(run, holder.kind) for run, holder in active_runs(tmp_path)] == \
            [(trained, "search")]
    finally:
        lock.release()
    assert active_runs(tmp_path) == [] and active_runs(tmp_path / "nowhere") == []
    # a holder killed before it released: its record stays, its lock is free
    never.lock().holder_path.write_text(json.dumps(
        LockHolder.mine("search", target=never.name).to_dict()))
    assert active_runs(tmp_path) == []
