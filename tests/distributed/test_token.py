"""Only the run's own workers talk to its oracle: a real chief on loopback refuses (and logs)
every call without the run's token, changes nothing for it, and serves a worker's channel
that carries it (issue 28)."""

from __future__ import annotations

import stat
from pathlib import Path

import grpc
import pytest

from tests.distributed.test_chief import random_oracle
from tuning_core.core import control
from tuning_core.distributed.chief import Chief
from tuning_core.distributed.token import (
    REFUSED_FILE,
    TokenMetadata,
    authorised_channel,
    read_token,
    token_path,
)
from tuning_core.runs.rundir import RunDir


@pytest.fixture
def serving(tmp_path: Path):
    """A chief serving a real RandomSearch oracle on a free loopback port."""
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    oracle = random_oracle(run.path)
    chief = Chief(oracle, run, control.SearchControl())
    port = chief.start("127.0.0.1")
    try:
        yield run, oracle, f"127.0.0.1:{port}"
    finally:
        chief.close()


def _stub(channel: grpc.Channel):
    from keras_tuner.src import protos

    return protos.get_service_grpc().OracleStub(channel), protos.get_service()


def test_a_client_without_the_token_gets_nothing_and_changes_nothing(serving) -> None:
    run, oracle, address = serving
    with grpc.insecure_channel(address) as channel:
        stub, messages = _stub(channel)
        for _ in range(20):  # a stranger's client, retrying
            with pytest.raises(grpc.RpcError) as refused:
                stub.CreateTrial(messages.CreateTrialRequest(tuner_id="stranger"), timeout=10)
            assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetSpace(messages.GetSpaceRequest(), timeout=10)
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert oracle.trials == {} and oracle.ongoing_trials == {}
    lines = (run.path / REFUSED_FILE).read_text().splitlines()
    assert len(lines) == 1  # 21 refusals from one peer within seconds: one line
    assert "refused /keras_tuner.Oracle/CreateTrial from ipv4:127.0.0.1:" in lines[0]


def test_a_wrong_token_is_refused_too(serving) -> None:
    _run, oracle, address = serving
    with grpc.insecure_channel(address) as raw:
        stub, messages = _stub(grpc.intercept_channel(raw, TokenMetadata("a-guess")))
        with pytest.raises(grpc.RpcError) as refused:
            stub.CreateTrial(messages.CreateTrialRequest(tuner_id="guesser"), timeout=10)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED and oracle.trials == {}


def test_the_runs_own_worker_is_served(serving) -> None:
    run, oracle, address = serving
    assert stat.S_IMODE(token_path(run).stat().st_mode) == 0o600
    with grpc.insecure_channel(address) as raw:
        stub, messages = _stub(authorised_channel(raw, run))
        space = stub.GetSpace(messages.GetSpaceRequest(), timeout=10)
        assert "units" in str(space.hyperparameters)
        trial = stub.CreateTrial(messages.CreateTrialRequest(tuner_id="worker-0"), timeout=10)
    assert trial.trial.trial_id in oracle.trials
    assert not (run.path / REFUSED_FILE).exists()


def test_each_chief_writes_a_new_token(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    tokens = []
    for _ in range(2):
        chief = Chief(random_oracle(run.path), run, control.SearchControl())
        chief.start("127.0.0.1")
        tokens.append(read_token(run))
        chief.close()
    assert tokens[0] != tokens[1] and all(len(t) >= 40 for t in tokens)
