"""Claiming by priority lanes with ageing."""

from __future__ import annotations

import pytest

from engine.rules.claim import Candidate, effective_priority, pick


@pytest.mark.parametrize(
    ("priority", "waited_s", "aging_s", "expected"),
    [
        (5, 0, 30, 5.0),
        (5, 30, 30, 4.0),
        (5, 150, 30, 0.0),
        (0, 0, 30, 0.0),
        (3, -10, 30, 3.0),  # a clock that stepped back never makes a job less urgent
    ],
)
def test_effective_priority(priority: int, waited_s: float, aging_s: float,
                            expected: float) -> None:
    assert effective_priority(priority, waited_s, aging_s) == pytest.approx(expected)


def test_pick_prefers_urgent_lanes_then_age() -> None:
    now = 1000.0
    cands = [Candidate(1, 3, now), Candidate(2, 0, now), Candidate(3, 0, now - 1),
             Candidate(4, 5, now)]
    assert pick(cands, 3, now, aging_s=30) == [3, 2, 1]


def test_an_old_low_priority_job_outranks_a_fresh_urgent_one() -> None:
    now = 1000.0
    cands = [Candidate(1, 0, now), Candidate(2, 5, now - 151)]
    assert pick(cands, 1, now, aging_s=30) == [2]


@pytest.mark.parametrize("free", [0, -1])
def test_no_free_slots_claims_nothing(free: int) -> None:
    assert pick([Candidate(1, 0, 0.0)], free, 1.0, 30) == []


def test_ties_break_by_id() -> None:
    cands = [Candidate(9, 2, 5.0), Candidate(4, 2, 5.0)]
    assert pick(cands, 2, 5.0, 30) == [4, 9]
