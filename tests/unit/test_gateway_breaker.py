"""Circuit-breaker and rate-limit rules: pure functions of the state, the policy and ``now``."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from engine.gateway.breaker import (
    BreakerPolicy,
    Health,
    Phase,
    admit,
    fail,
    parse_retry_after,
    rate_limit,
    succeed,
    transition,
)

P = BreakerPolicy()
NOW = 1_000_000.0
KEY = "anthropic/claude"


def failures(n: int, h: Health | None = None, now: float = NOW) -> Health:
    h = h or Health(KEY)
    for _ in range(n):
        h = fail(h, now, P, probe=False)
    return h


def test_closed_lets_calls_through() -> None:
    a = admit(Health(KEY), NOW, P)
    assert (a.allowed, a.probe, a.health) == (True, False, Health(KEY))


@pytest.mark.parametrize(("n", "phase"), [(1, Phase.CLOSED), (2, Phase.CLOSED),
                                          (3, Phase.OPEN)])
def test_three_failures_in_a_row_open_the_breaker(n: int, phase: Phase) -> None:
    assert failures(n).phase is phase


def test_a_success_forgets_earlier_failures() -> None:
    h = failures(1, succeed(failures(2), probe=False))
    assert (h.phase, h.failures) == (Phase.CLOSED, 1)


def test_open_blocks_until_the_cooldown_then_lets_one_probe() -> None:
    h = failures(3)
    assert h.until == NOW + 120
    blocked = admit(h, NOW + 119, P)
    assert (blocked.allowed, blocked.reason, blocked.until) == (False, "breaker open", NOW + 120)
    probe = admit(h, NOW + 120, P)
    assert (probe.allowed, probe.probe, probe.health.phase) == (True, True, Phase.HALF_OPEN)
    second = admit(probe.health, NOW + 121, P)
    assert (second.allowed, second.reason) == (False, "probe in flight")


def test_a_lost_probe_frees_its_slot_after_the_lease() -> None:
    probing = admit(failures(3), NOW + 120, P).health
    again = admit(probing, NOW + 120 + P.probe_lease_s, P)
    assert (again.allowed, again.probe) == (True, True)


@pytest.mark.parametrize(("probes_failed", "cooldown"), [(0, 120), (1, 600), (2, 1800),
                                                         (3, 1800), (6, 1800)])
def test_failed_probes_grow_the_cooldown(probes_failed: int, cooldown: float) -> None:
    h, t = failures(3), NOW
    for _ in range(probes_failed):
        t = h.until or t
        h = fail(admit(h, t, P).health, t, P, probe=True)
    assert h.phase is Phase.OPEN
    assert h.until == t + cooldown


def test_a_successful_probe_closes_and_resets_the_cooldowns() -> None:
    h = fail(admit(failures(3), NOW + 120, P).health, NOW + 120, P, probe=True)
    closed = succeed(admit(h, NOW + 720, P).health, probe=True)
    assert (closed.phase, closed.opened, closed.until) == (Phase.CLOSED, 0, None)
    assert failures(3, closed).until == NOW + 120


def test_calls_let_through_earlier_change_nothing_once_open() -> None:
    h = failures(3)
    assert fail(h, NOW + 1, P, probe=False) == h
    assert succeed(h, probe=False) == h
    probing = admit(h, NOW + 120, P).health
    assert fail(probing, NOW + 121, P, probe=False) == probing
    assert succeed(probing, probe=False) == probing


def test_rate_limit_parks_the_candidate_until_reset_capped() -> None:
    h = rate_limit(Health(KEY), NOW, 20.0, P)
    assert h.rate_limited_until == NOW + 20
    assert admit(h, NOW + 19, P).reason == "rate limited"
    assert admit(h, NOW + 20, P).allowed
    assert rate_limit(Health(KEY), NOW, 900.0, P).rate_limited_until == NOW + 600
    assert rate_limit(Health(KEY), NOW, None, P).rate_limited_until == NOW + 30
    assert rate_limit(h, NOW, 5.0, P) == h, "a shorter reset never shortens a longer one"


def test_a_rate_limit_is_not_a_breaker_failure() -> None:
    h = rate_limit(failures(2), NOW, 1.0, P)
    assert (h.phase, h.failures) == (Phase.CLOSED, 2)


@pytest.mark.parametrize(("before", "after", "expected"), [
    (Health(KEY), Health(KEY, failures=1), None),
    (Health(KEY, failures=2), Health(KEY, Phase.OPEN, until=NOW + 120), "open"),
    (Health(KEY, Phase.OPEN), Health(KEY, Phase.HALF_OPEN), "half_open"),
    (Health(KEY, Phase.HALF_OPEN), Health(KEY), "closed"),
    (Health(KEY), Health(KEY, rate_limited_until=NOW + 5), "rate_limited"),
    (Health(KEY, rate_limited_until=NOW + 5), Health(KEY, rate_limited_until=NOW + 9), None),
    (Health(KEY, rate_limited_until=NOW - 5), Health(KEY, rate_limited_until=NOW + 9),
     "rate_limited"),
])
def test_transitions_worth_recording(before: Health, after: Health,
                                     expected: str | None) -> None:
    assert transition(before, after, NOW) == expected


@pytest.mark.parametrize(("headers", "seconds"), [
    ({}, None),
    ({"retry-after": "7"}, 7.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after-ms": "250"}, 0.25),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
    ({"retry-after": "-3"}, 0.0),
    ({"retry-after": "nan"}, None),
    ({"retry-after": "inf"}, None),
    ({"retry-after": "whenever"}, None),
    ({"retry-after": formatdate(NOW + 60, usegmt=True)}, 60.0),
    ({"retry-after": formatdate(NOW - 60, usegmt=True)}, 0.0),
])
def test_parse_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers, NOW) == seconds
