"""Every legal and illegal transition of the job state machine."""

from __future__ import annotations

import itertools

import pytest

from engine.errors import IllegalTransition
from engine.model import JobState
from engine.rules.transitions import TABLE, Event, can, next_state

W, R, RUN, AA = JobState.WAITING, JobState.READY, JobState.RUNNING, JobState.AWAITING_APPROVAL
D, F, C, X = JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.DEAD

LEGAL = {
    (W, Event.PROMOTE): R,
    (R, Event.CLAIM): RUN,
    (RUN, Event.SUCCEED): D,
    (RUN, Event.RETRY_LATER): W,
    (RUN, Event.FAIL): F,
    (W, Event.FAIL): F,
    (R, Event.FAIL): F,
    (W, Event.CANCEL): C,
    (R, Event.CANCEL): C,
    (RUN, Event.CANCEL): C,
    (AA, Event.CANCEL): C,
    (RUN, Event.RECOVER): R,
    (RUN, Event.DEAD_LETTER): X,
    (RUN, Event.RELEASE): R,
    (RUN, Event.PARK): AA,
    (AA, Event.APPROVE): R,
    (W, Event.SETTLE_OK): D,
    (W, Event.SETTLE_FAIL): F,
    (F, Event.RETRY): W,
    (C, Event.RETRY): W,
    (X, Event.RETRY): W,
}


@pytest.mark.parametrize(("state", "event"), sorted(LEGAL, key=str))
def test_legal_transition(state: JobState, event: Event) -> None:
    assert next_state(state, event) is LEGAL[(state, event)]
    assert can(state, event)


ILLEGAL = [
    pair for pair in itertools.product(JobState, Event) if pair not in LEGAL
]


@pytest.mark.parametrize(("state", "event"), ILLEGAL, ids=lambda v: str(v))
def test_illegal_transition(state: JobState, event: Event) -> None:
    assert not can(state, event)
    with pytest.raises(IllegalTransition) as err:
        next_state(state, event)
    assert state.value in str(err.value)


def test_the_table_is_exactly_the_legal_set() -> None:
    table = {(s, e): target for e, (sources, target) in TABLE.items() for s in sources}
    assert table == LEGAL


@pytest.mark.parametrize("state", list(JobState))
def test_terminal_states_only_leave_by_retry(state: JobState) -> None:
    exits = {e for e in Event if can(state, e)}
    if state.terminal and state is not D:
        assert exits == {Event.RETRY}
    if state is D:
        assert exits == set()
