"""Which ready jobs to claim: priority lanes with ageing, so low lanes never starve."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    priority: int
    ready_at: float


def effective_priority(priority: int, waited_s: float, aging_s: float) -> float:
    """A job climbs one lane for every ``aging_s`` it waits: a P5 job outranks a fresh P0
    after ``5 * aging_s``."""
    return priority - max(waited_s, 0.0) / aging_s


def pick(candidates: list[Candidate], free: int, now: float, aging_s: float) -> list[int]:
    """The ids of at most ``free`` candidates, most urgent first (oldest breaks ties)."""
    if free <= 0:
        return []
    ranked = sorted(
        candidates,
        key=lambda c: (effective_priority(c.priority, now - c.ready_at, aging_s), c.ready_at, c.id),
    )
    return [c.id for c in ranked[:free]]
