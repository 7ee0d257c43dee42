"""Roles in the engine: the whole role x action x own/other-resource matrix (runs, queued
jobs and uploaded datasets follow one rule)."""

from __future__ import annotations

import pytest

from tuning_core.core.errors import PermissionDeniedError, TuningError
from tuning_core.lab.accounts import Role, User
from tuning_core.lab.permissions import Action, allowed, require

A = Action
EVERY_ROLE_MAY = {A.VIEW, A.REPORT, A.DOWNLOAD}
MEMBER_MAY = EVERY_ROLE_MAY | {A.SCAN_DATA, A.LAUNCH, A.UPLOAD, A.EXPORT, A.EXPLAIN, A.EXCLUDE}
MEMBER_MAY_ON_OWN_RUN = {A.STOP, A.RESUME, A.RETRAIN, A.DELETE, A.PRUNE, A.EDIT_NOTES,
                         A.CANCEL_JOB, A.MOVE_JOB, A.DELETE_DATASET, A.CLASSIFY}
EXPECTED = {  # (role, run is own) -> allowed actions
    (Role.VIEWER, True): EVERY_ROLE_MAY, (Role.VIEWER, False): EVERY_ROLE_MAY,
    (Role.MEMBER, True): MEMBER_MAY | MEMBER_MAY_ON_OWN_RUN, (Role.MEMBER, False): MEMBER_MAY,
    (Role.ADMIN, True): set(Action), (Role.ADMIN, False): set(Action),
}


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name)
@pytest.mark.parametrize("own", [True, False], ids=["own", "other"])
@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_matrix(role: Role, own: bool, action: Action) -> None:
    user = User("alice", role)
    owner = "alice" if own else "bob"
    expected = action in EXPECTED[(role, own)]
    assert allowed(user, action, owner) is expected
    if expected:
        require(user, action, owner)
    else:
        with pytest.raises(PermissionDeniedError) as denied:
            require(user, action, owner)
        assert isinstance(denied.value, TuningError)
        assert f"you are {role.value} alice" in str(denied.value)


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name)
def test_local_mode_has_no_user_and_may_everything(action: Action) -> None:
    require(None, action, owner="anyone")
    require(None, action)


def test_messages_name_the_role_needed() -> None:
    with pytest.raises(PermissionDeniedError, match=r"^stopping another member's run needs the "
                       r"admin role; you are member alice\.$"):
        require(User("alice", Role.MEMBER), Action.STOP, owner="bob")
    with pytest.raises(PermissionDeniedError, match=r"^launching a search needs the member role; "
                       r"you are viewer carl\.$"):
        require(User("carl", Role.VIEWER), Action.LAUNCH)
    with pytest.raises(PermissionDeniedError, match="deleting your own run needs the member role"):
        require(User("carl", Role.VIEWER), Action.DELETE, owner="carl")


def test_a_run_without_an_owner_is_not_a_members_own() -> None:
    assert not allowed(User("alice", Role.MEMBER), Action.DELETE, owner=None)
    assert allowed(User("root", Role.ADMIN), Action.DELETE, owner=None)


def test_queued_jobs_and_datasets_follow_the_runs_rule_in_their_own_words() -> None:
    with pytest.raises(PermissionDeniedError, match=r"^cancelling another member's queued job "
                       r"needs the admin role; you are member alice\.$"):
        require(User("alice", Role.MEMBER), Action.CANCEL_JOB, owner="bob")
    with pytest.raises(PermissionDeniedError, match="removing your own dataset needs the member"):
        require(User("carl", Role.VIEWER), Action.DELETE_DATASET, owner="carl")
    assert [a.resource for a in (Action.MOVE_JOB, Action.DELETE_DATASET, Action.LAUNCH)] == [
        "queued job", "dataset", None]
