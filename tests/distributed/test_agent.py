"""Agents: their announcements, which searches they serve, and how many workers each gets."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuning_core.core import atomic
from tuning_core.distributed import agent as agents
from tuning_core.distributed.agent import Agent, AgentOptions, AgentSlot, Announcement
from tuning_core.distributed.launch import LocalWorker
from tuning_core.runs.locks import LockHolder
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import AGENTS_ALL


def _asking(runs: Path, name: str, wanted: int, started: float):
    """A run folder whose (pretend) chief holds its lock and asks agents for ``wanted``."""
    run = RunDir(runs / name)
    run.path.mkdir(parents=True)
    lock = run.lock()
    lock.acquire(LockHolder.mine("search", target=name))
    atomic.write_json(run.chief_path, {"host": "lab-1", "bind": "127.0.0.1", "port": 8470,
                                       "started": started, "agents": wanted})
    return run, lock


def _agent(tmp_path: Path, name: str, slots: int = 1) -> Agent:
    plan = [LocalWorker(f"w{i}", f"CPU {i}", {}) for i in range(slots)]
    options = AgentOptions(workspace=tmp_path / "ws", runs_dir=tmp_path / "ws" / "runs",
                           agent=name)
    return Agent(options, plan=plan)


@pytest.fixture
def sleepers(monkeypatch):
    """Agents start a sleeping process instead of a worker; yields what they started."""
    started: list[tuple[str, str]] = []

    def start(self, slot, request, claim):
        started.append((self.options.name, request.run.name))
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                start_new_session=True)
        return agents._Running(request, self.plan[slot].worker, proc, claim)

    monkeypatch.setattr(Agent, "_start", start)
    made: list[Agent] = []
    yield started, made
    for agent in made:
        agent.close(wait_s=5)


def test_an_announcement_round_trips_and_stale_or_broken_ones_are_ignored(tmp_path) -> None:
    now = time.time()
    record = Announcement("lab-1-7", "lab-1", 7, now - 60, now,
                          (AgentSlot(0, "GPU 0", "/ws/runs/a", "lab-1-7-0", "3"),
                           AgentSlot(1, "GPU 1")))
    assert Announcement.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert record.free == 1
    folder = agents.agents_dir(tmp_path)
    folder.mkdir()
    atomic.write_json(folder / "lab-1-7.json", record.to_dict())
    stale = Announcement("lab-2-9", "lab-2", 9, now - 600, now - agents.STALE_S - 1,
                         (AgentSlot(0, "CPU 0-3"),))
    atomic.write_json(folder / "lab-2-9.json", stale.to_dict())
    (folder / "broken.json").write_text("{")
    assert [a.agent for a in agents.live_agents(tmp_path)] == ["lab-1-7"]
    assert agents.free_slots(tmp_path) == 1
    assert agents.live_agents(tmp_path / "nowhere") == []


def test_searches_that_ask_are_served_oldest_first_while_their_chief_lives(tmp_path) -> None:
    runs = tmp_path / "runs"
    _newer, newer_lock = _asking(runs, "b", 2, started=200.0)
    _older, older_lock = _asking(runs, "a", AGENTS_ALL, started=100.0)
    _plain, plain_lock = _asking(runs, "c", 0, started=50.0)  # local workers only
    try:
        requests = agents.work_requests(runs)
        assert [(r.run.name, r.wanted, r.address) for r in requests] == [
            ("a", AGENTS_ALL, "127.0.0.1:8470"), ("b", 2, "127.0.0.1:8470")]
        older_lock.release()  # its chief died: chief.json is left, the lock is free
        assert [r.run.name for r in agents.work_requests(runs)] == ["b"]
    finally:
        for lock in (newer_lock, older_lock, plain_lock):
            lock.release()


def test_a_search_asking_for_n_gets_n_across_agents_and_all_gets_every_slot(
        tmp_path, sleepers) -> None:
    started, made = sleepers
    runs = tmp_path / "ws" / "runs"
    one, one_lock = _asking(runs, "one", 1, started=100.0)
    first, second = _agent(tmp_path, "lab-1", slots=2), _agent(tmp_path, "lab-2", slots=2)
    made += [first, second]
    try:
        first.step()
        second.step()
        assert started == [("lab-1", "one")]  # one claim, one worker, whoever asks
        every, every_lock = _asking(runs, "every", AGENTS_ALL, started=200.0)
        first.step()
        second.step()
        assert sorted(started[1:]) == [("lab-1", "every"), ("lab-2", "every"),
                                       ("lab-2", "every")]
        by_name = {a.agent: a for a in agents.live_agents(tmp_path / "ws")}
        assert by_name["lab-1"].free == 0 and by_name["lab-2"].free == 0
        assert {s.run for s in by_name["lab-1"].slots} == {str(one.path), str(every.path)}
        every_lock.release()
        one_lock.release()
        now = time.time()
        first.step(now)  # both searches gone: their workers ended after a grace
        first.step(now + agents.GONE_GRACE_S + 1)
        _wait(lambda: all(r.proc.poll() is not None for r in first.running.values()))
        first.step(now + agents.GONE_GRACE_S + 2)
        assert not first.running and agents.live_agents(tmp_path / "ws")[0].free == 2
    finally:
        one_lock.release()


def test_a_stopped_agent_ends_its_workers_and_withdraws(tmp_path, sleepers) -> None:
    started, made = sleepers
    _run, lock = _asking(tmp_path / "ws" / "runs", "one", 1, started=100.0)
    agent = _agent(tmp_path, "lab-1")
    try:
        from tuning_core.runs.locks import machine_slot

        assert machine_slot().holder() is None  # an idle agent leaves the machine free
        agent.step()
        (running,) = agent.running.values()
        assert agent.path.is_file()
        assert machine_slot().holder().kind == "agent"  # busy for the queue while it trains
        agent.close(wait_s=5)
        assert machine_slot().holder() is None
        assert running.proc.poll() is not None and not agent.path.exists()
        assert not (running.claim and running.claim.held)  # the claim is free again
        other = _agent(tmp_path, "lab-2")
        made.append(other)
        other.step()
        assert started[-1] == ("lab-2", "one")
    finally:
        lock.release()


def test_an_agent_offers_nothing_while_another_job_trains_on_its_machine(
        tmp_path, sleepers) -> None:
    from tuning_core.runs.locks import machine_slot

    started, made = sleepers
    _run, lock = _asking(tmp_path / "ws" / "runs", "one", AGENTS_ALL, started=100.0)
    slot = machine_slot()
    slot.acquire(LockHolder.mine("search", target="someone-elses-run"))
    agent = _agent(tmp_path, "lab-1")
    made.append(agent)
    try:
        agent.step()
        (record,) = agents.live_agents(tmp_path / "ws")
        assert not started and record.free == 0 and record.busy == "search someone-elses-run"
        assert agents.slot_rows(tmp_path / "ws")[0]["run"] == "busy: search someone-elses-run"
        slot.release()
        slot.acquire(LockHolder.mine("search", target="one"))  # the chief of the search: idle
        agent.step()
        assert started == [("lab-1", "one")]
    finally:
        slot.release()
        lock.release()


def _wait(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize(("args", "named"), [
    (("agent", "--gpus", "a,b"), "--gpus"), (("agent", "--max-workers", "-1"), "--max-workers"),
    (("search", "--data", ".", "--agents", "0"), "--agents")])
def test_bad_agent_input_exits_2_with_one_line(tmp_path, args, named) -> None:
    proc = subprocess.run([sys.executable, "-m", "tuning_core", "--workspace", str(tmp_path),
                           *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert named in proc.stderr


def test_a_search_asks_agents_for_n_or_all_and_nothing_else() -> None:
    from tuning_core.cli.distributed import parse_agents
    from tuning_core.core.errors import SettingsError
    from tuning_core.runs.schema import TunerSettings

    assert (parse_agents("all"), parse_agents("3")) == (AGENTS_ALL, 3)
    TunerSettings(agents=AGENTS_ALL).validate()
    with pytest.raises(SettingsError, match="agents"):
        TunerSettings(agents=-2).validate()
    with pytest.raises(SettingsError, match="--agents"):
        parse_agents("some")


# --- real agents, real searches ---------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]


def start_agent(workspace: Path, name: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    """``agent`` as a process of its own (``prefix``: say, ``ip netns exec NS``)."""
    import os

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    return subprocess.Popen([*prefix, sys.executable, "-m", "tuning_core", "agent",
                             "--workspace", str(workspace), "--gpus", "none",
                             "--max-workers", "1", "--id", name], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def stop_agent(proc: subprocess.Popen) -> tuple[int, str]:
    """SIGTERM, as a service manager stops it; its exit code and output."""
    import os
    import signal

    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its workers, whatever happened
    return proc.returncode, out


def agent_search(tmp_path: Path, trials: int):
    """A 1-epoch random search that asks the agents for every free slot, no local worker."""
    from tests.conftest import write_image_folder
    from tuning_core.data.dataset import ImageConfig
    from tuning_core.runs.schema import RunConfig, TunerSettings
    from tuning_core.space.presets import get_preset

    images = tmp_path / "images"
    data = images if images.is_dir() else write_image_folder(images)
    return RunConfig(data_dir=str(data), space=get_preset("small"), image=ImageConfig(16, "rgb"),
                     tuner=TunerSettings(tuner="random", max_trials=trials, epochs=1, patience=0,
                                         agents=AGENTS_ALL))


def check_split_once(run: RunDir, trials: int, names: set[str]) -> None:
    """Every trial ended once, completed, and the agents' workers ``names`` each ran some."""
    ends = [e for e in run.reader().events() if e["event"] == "trial_end"]
    assert sorted(e["trial_id"] for e in ends) == [str(i) for i in range(trials)]
    table = run.reader().trials()
    assert set(table["status"]) == {"completed"}
    assert set(table["worker"]) == names, table[["trial_id", "worker"]]
    assert run.reader().search_status == "finished", run.reader().last_end


@pytest.mark.training
def test_two_agents_started_once_serve_three_dashboard_searches(tmp_path, workspace) -> None:
    from tuning_core.jobs.registry import JobRegistry

    procs = [start_agent(workspace, name) for name in ("a1", "a2")]
    try:
        _wait(lambda: agents.free_slots(workspace) == 2, timeout=60)
        for trials in (4, 3, 3):  # one after another, nobody touching the agents
            # a registry per search, as a dashboard restarted between them: agents carry on
            registry = JobRegistry(workspace / "runs", machine_slot=False)
            try:
                run = RunDir(registry.start_search(agent_search(tmp_path, trials)))
                assert registry.wait(400), "the search did not end"
            finally:
                registry.shutdown(60)
            check_split_once(run, trials, {"a1-0", "a2-0"})
    finally:
        results = [stop_agent(proc) for proc in procs]
    assert [code for code, _ in results] == [0, 0], results
    assert all("stopped" in out for _, out in results)
    assert agents.live_agents(workspace) == [] and not list((workspace / "agents").iterdir())


def test_search_page_offers_the_agents_free_slots_and_all_free(clean_caches) -> None:
    from tests.pages.support import new_app, problems
    from tuning_core.core.workspace import workspace_dir

    now = time.time()
    record = Announcement("lab-2-7", "lab-2", 7, now, now,
                          (AgentSlot(0, "GPU 0", "/ws/runs/run-a", "lab-2-7-0", "3"),
                           AgentSlot(1, "GPU 1")))
    agents.agents_dir(workspace_dir()).mkdir()
    atomic.write_json(agents.agents_dir(workspace_dir()) / "lab-2-7.json", record.to_dict())
    at = new_app().run()
    at.switch_page("pages/search.py").run()
    assert not problems(at)
    table = next(d.value for d in at.dataframe if "agent" in d.value.columns)
    assert table[["host", "device", "run", "trial"]].values.tolist() == [
        ["lab-2", "GPU 0", "run-a", "3"], ["lab-2", "GPU 1", "free", "–"]]
    choice = next(s for s in at.selectbox if s.label == "Agents' workers")
    assert "all free (1 now)" in choice.options and choice.value == 0
    choice.set_value(AGENTS_ALL).run()
    assert not problems(at)
    assert any("every free slot of the lab's agents" in m.value for m in at.markdown)
