"""The job state machine: which event moves a job from which state to which."""

from __future__ import annotations

from enum import StrEnum

from engine.errors import IllegalTransition
from engine.model import JobState

W, R, RUN, AA = JobState.WAITING, JobState.READY, JobState.RUNNING, JobState.AWAITING_APPROVAL
D, F, C, X = JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.DEAD


class Event(StrEnum):
    PROMOTE = "promote"
    """Dependencies resolved and ``not_before`` passed."""
    CLAIM = "claim"
    SUCCEED = "succeed"
    RETRY_LATER = "retry_later"
    """A transient failure with attempts left: wait out the backoff."""
    FAIL = "fail"
    CANCEL = "cancel"
    RECOVER = "recover"
    """Its process died while it ran; run it again."""
    DEAD_LETTER = "dead_letter"
    """Its process died with it too many times."""
    RELEASE = "release"
    """A graceful shutdown handed it back unfinished."""
    PARK = "park"
    """It needs the owner's approval before it may go on."""
    APPROVE = "approve"
    SETTLE_OK = "settle_ok"
    """A promise group fulfilled, resolved by the engine without a worker."""
    SETTLE_FAIL = "settle_fail"
    RETRY = "retry"
    """The owner asked for another go at a finished job."""


TABLE: dict[Event, tuple[frozenset[JobState], JobState]] = {
    Event.PROMOTE: (frozenset({W}), R),
    Event.CLAIM: (frozenset({R}), RUN),
    Event.SUCCEED: (frozenset({RUN}), D),
    Event.RETRY_LATER: (frozenset({RUN}), W),
    Event.FAIL: (frozenset({RUN, W, R}), F),
    Event.CANCEL: (frozenset({W, R, RUN, AA}), C),
    Event.RECOVER: (frozenset({RUN}), R),
    Event.DEAD_LETTER: (frozenset({RUN}), X),
    Event.RELEASE: (frozenset({RUN}), R),
    Event.PARK: (frozenset({RUN}), AA),
    Event.APPROVE: (frozenset({AA}), R),
    Event.SETTLE_OK: (frozenset({W}), D),
    Event.SETTLE_FAIL: (frozenset({W}), F),
    Event.RETRY: (frozenset({F, C, X}), W),
}


def next_state(state: JobState, event: Event) -> JobState:
    """The state after ``event``; raises ``IllegalTransition`` if ``event`` cannot happen now."""
    sources, target = TABLE[event]
    if state not in sources:
        raise IllegalTransition(state, event.value)
    return target


def can(state: JobState, event: Event) -> bool:
    return state in TABLE[event][0]
