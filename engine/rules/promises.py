"""How a promise group or a plain dependant settles once its parents do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.model import JSON, GroupKind, JobState


@dataclass(frozen=True, slots=True)
class Member:
    job_id: int
    idx: int
    state: JobState
    result: JSON = None
    error: str | None = None
    finished_at: float | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    """A settled group: fulfilled with ``result`` or rejected with ``error``; ``cancel`` lists the
    members that no longer matter (race losers)."""

    fulfilled: bool
    result: JSON = None
    error: str | None = None
    cancel: tuple[int, ...] = ()


class Readiness(StrEnum):
    WAIT = "wait"
    READY = "ready"
    BLOCKED = "blocked"
    """A parent ended without a result: the dependant cannot run."""


def _settled(m: Member) -> bool:
    return m.state.terminal


def _ok(m: Member) -> bool:
    return m.state is JobState.DONE


def _describe(m: Member) -> str:
    return f"job {m.job_id} {m.state.value}" + (f": {m.error}" if m.error else "")


def _pending(members: list[Member]) -> tuple[int, ...]:
    return tuple(m.job_id for m in members if not _settled(m))


def resolve(kind: GroupKind, members: list[Member]) -> Resolution | None:
    """The group's resolution, or None while it is still pending."""
    ordered = sorted(members, key=lambda m: m.idx)
    if not ordered:
        return Resolution(fulfilled=kind is not GroupKind.ANY, result=[],
                          error="no members" if kind is GroupKind.ANY else None)
    return _RESOLVERS[kind](ordered)


def _resolve_all(ms: list[Member]) -> Resolution | None:
    failed = next((m for m in ms if _settled(m) and not _ok(m)), None)
    if failed is not None:
        return Resolution(fulfilled=False, error=_describe(failed))
    if all(_ok(m) for m in ms):
        return Resolution(fulfilled=True, result=[m.result for m in ms])
    return None


def _resolve_race(ms: list[Member]) -> Resolution | None:
    settled = [m for m in ms if _settled(m)]
    if not settled:
        return None
    first = min(settled, key=lambda m: (m.finished_at or 0.0, m.idx))
    if _ok(first):
        return Resolution(fulfilled=True, result=first.result, cancel=_pending(ms))
    return Resolution(fulfilled=False, error=_describe(first), cancel=_pending(ms))


def _resolve_any(ms: list[Member]) -> Resolution | None:
    winners = [m for m in ms if _ok(m)]
    if winners:
        winner = min(winners, key=lambda m: (m.finished_at or 0.0, m.idx))
        return Resolution(fulfilled=True, result=winner.result, cancel=_pending(ms))
    if all(_settled(m) for m in ms):
        return Resolution(fulfilled=False, error="every member failed: "
                          + "; ".join(_describe(m) for m in ms))
    return None


def _resolve_all_settled(ms: list[Member]) -> Resolution | None:
    if not all(_settled(m) for m in ms):
        return None
    return Resolution(fulfilled=True, result=[_outcome(m) for m in ms])


def _outcome(m: Member) -> JSON:
    if _ok(m):
        return {"status": "fulfilled", "value": m.result}
    return {"status": "rejected", "reason": m.error or m.state.value}


_RESOLVERS = {
    GroupKind.ALL: _resolve_all,
    GroupKind.RACE: _resolve_race,
    GroupKind.ANY: _resolve_any,
    GroupKind.ALL_SETTLED: _resolve_all_settled,
}


def may_settle(kind: GroupKind, pending: int, cause: JobState) -> bool:
    """Whether a member ending ``cause`` (with ``pending`` members left) can settle the group:
    the cheap test that keeps a wide fan-out linear instead of re-reading every member."""
    if pending == 0 or kind is GroupKind.RACE:
        return True
    if kind is GroupKind.ALL:
        return cause is not JobState.DONE
    if kind is GroupKind.ANY:
        return cause is JobState.DONE
    return False


def readiness(parent_states: list[JobState]) -> Readiness:
    """A plain dependant runs when every parent is done, and never if one ended otherwise."""
    if any(s.terminal and s is not JobState.DONE for s in parent_states):
        return Readiness.BLOCKED
    if all(s is JobState.DONE for s in parent_states):
        return Readiness.READY
    return Readiness.WAIT
