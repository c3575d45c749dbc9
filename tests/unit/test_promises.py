"""How promise groups and plain dependants settle."""

from __future__ import annotations

import pytest

from engine.model import GroupKind, JobState
from engine.rules.promises import Member, Readiness, readiness, resolve

D, F, C, RUN, W = (JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.RUNNING,
                   JobState.WAITING)


def m(job_id: int, state: JobState, result: object = None, at: float | None = None) -> Member:
    return Member(job_id, job_id, state, result, "boom" if state is F else None, at)


def test_all_fulfils_with_results_in_member_order() -> None:
    res = resolve(GroupKind.ALL, [m(2, D, "b", 1), m(1, D, "a", 2)])
    assert res is not None
    assert res.fulfilled
    assert res.result == ["a", "b"]


def test_all_rejects_on_the_first_failure_without_waiting() -> None:
    res = resolve(GroupKind.ALL, [m(1, F), m(2, RUN)])
    assert res is not None
    assert not res.fulfilled
    assert "job 1 failed" in (res.error or "")
    assert res.cancel == ()


def test_all_waits_while_members_run() -> None:
    assert resolve(GroupKind.ALL, [m(1, D, 1), m(2, RUN)]) is None


def test_race_takes_the_first_to_settle_and_cancels_the_rest() -> None:
    res = resolve(GroupKind.RACE, [m(1, RUN), m(2, D, "fast", 5.0), m(3, W)])
    assert res is not None
    assert res.fulfilled
    assert res.result == "fast"
    assert res.cancel == (1, 3)


def test_race_orders_by_finish_time_not_by_position() -> None:
    res = resolve(GroupKind.RACE, [m(1, D, "slow", 9.0), m(2, F, at=3.0)])
    assert res is not None
    assert not res.fulfilled


def test_race_rejects_when_the_first_to_settle_failed() -> None:
    res = resolve(GroupKind.RACE, [m(1, F, at=1.0), m(2, RUN)])
    assert res is not None
    assert not res.fulfilled
    assert res.cancel == (2,)


def test_any_ignores_failures_until_one_succeeds() -> None:
    assert resolve(GroupKind.ANY, [m(1, F), m(2, RUN)]) is None
    res = resolve(GroupKind.ANY, [m(1, F), m(2, D, "ok", 2.0), m(3, RUN)])
    assert res is not None
    assert res.fulfilled
    assert res.result == "ok"
    assert res.cancel == (3,)


def test_any_rejects_when_every_member_failed() -> None:
    res = resolve(GroupKind.ANY, [m(1, F), m(2, C)])
    assert res is not None
    assert not res.fulfilled
    assert "every member failed" in (res.error or "")


def test_all_settled_reports_each_outcome() -> None:
    res = resolve(GroupKind.ALL_SETTLED, [m(1, D, 7), m(2, F)])
    assert res is not None
    assert res.fulfilled
    assert res.result == [{"status": "fulfilled", "value": 7},
                          {"status": "rejected", "reason": "boom"}]


def test_all_settled_waits_for_everyone() -> None:
    assert resolve(GroupKind.ALL_SETTLED, [m(1, F), m(2, RUN)]) is None


@pytest.mark.parametrize(("kind", "fulfilled"), [
    (GroupKind.ALL, True), (GroupKind.ALL_SETTLED, True), (GroupKind.RACE, True),
    (GroupKind.ANY, False),
])
def test_empty_groups(kind: GroupKind, fulfilled: bool) -> None:
    res = resolve(kind, [])
    assert res is not None
    assert res.fulfilled is fulfilled


@pytest.mark.parametrize(("states", "expected"), [
    ([], Readiness.READY),
    ([D, D], Readiness.READY),
    ([D, RUN], Readiness.WAIT),
    ([D, F], Readiness.BLOCKED),
    ([C, RUN], Readiness.BLOCKED),
    ([JobState.DEAD], Readiness.BLOCKED),
])
def test_readiness(states: list[JobState], expected: Readiness) -> None:
    assert readiness(states) is expected


@pytest.mark.parametrize(("kind", "pending", "cause", "expected"), [
    (GroupKind.RACE, 5, D, True),
    (GroupKind.ALL, 5, D, False),
    (GroupKind.ALL, 5, F, True),
    (GroupKind.ALL, 0, D, True),
    (GroupKind.ANY, 5, F, False),
    (GroupKind.ANY, 5, D, True),
    (GroupKind.ANY, 0, F, True),
    (GroupKind.ALL_SETTLED, 5, F, False),
    (GroupKind.ALL_SETTLED, 0, D, True),
])
def test_may_settle_only_when_the_member_can_decide(kind: GroupKind, pending: int,
                                                    cause: JobState, expected: bool) -> None:
    from engine.rules.promises import may_settle

    assert may_settle(kind, pending, cause) is expected
