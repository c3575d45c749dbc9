"""Pure circuit-breaker and rate-limit rules: one ``Health`` per ``provider/model``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from enum import StrEnum


class Phase(StrEnum):
    """A candidate's breaker::

        closed ──N failures in a row──► open ──cooldown over──► half_open (one probe)
           ▲                                ▲                        │
           └──────── the probe succeeds ────┼────────────────────────┤
                                            └──── the probe fails: the next, longer cooldown

    A 429 does not count as a failure: it parks the candidate until its reset time instead.
    """

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failures_to_open: int = 3
    cooldowns_s: tuple[float, ...] = (120.0, 600.0, 1800.0)
    """The first opening waits the first cooldown; each failed probe moves one further along."""
    probe_lease_s: float = 300.0
    """A half-open probe that never reports (the process died) frees its slot after this."""
    rate_limit_default_s: float = 30.0
    """How long a 429 without ``retry-after`` parks the candidate."""
    rate_limit_cap_s: float = 600.0
    """No ``retry-after`` may park a candidate longer than this."""


@dataclass(frozen=True, slots=True)
class Health:
    """What the gateway knows of one candidate. ``until`` is when an open breaker lets a probe
    through, or when a half-open probe's lease ends."""

    key: str
    phase: Phase = Phase.CLOSED
    failures: int = 0
    opened: int = 0
    until: float | None = None
    rate_limited_until: float | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a call may go to the candidate now; ``health`` is the state to store."""

    allowed: bool
    probe: bool
    health: Health
    reason: str = ""
    until: float | None = None


def admit(h: Health, now: float, policy: BreakerPolicy) -> Admission:
    """May a call go now? An open breaker past its cooldown lets exactly one probe through."""
    if h.rate_limited_until is not None and now < h.rate_limited_until:
        return Admission(False, False, h, "rate limited", h.rate_limited_until)
    if h.phase is Phase.CLOSED:
        return Admission(True, False, h)
    if h.until is not None and now < h.until:
        reason = "breaker open" if h.phase is Phase.OPEN else "probe in flight"
        return Admission(False, False, h, reason, h.until)
    probing = replace(h, phase=Phase.HALF_OPEN, until=now + policy.probe_lease_s)
    return Admission(True, True, probing)


def succeed(h: Health, *, probe: bool) -> Health:
    """A success forgets the failures of a closed breaker, and a successful probe closes a
    half-open one. Successes of calls let through before the breaker opened change nothing:
    they say little about now."""
    if h.phase is Phase.CLOSED or (h.phase is Phase.HALF_OPEN and probe):
        return replace(h, phase=Phase.CLOSED, failures=0, opened=0, until=None)
    return h


def fail(h: Health, now: float, policy: BreakerPolicy, *, probe: bool) -> Health:
    """Count a failure. A failed probe reopens with the next cooldown; failures of calls let
    through before the breaker opened change nothing more."""
    if h.phase is Phase.HALF_OPEN and probe:
        return _open(h, now, policy)
    if h.phase is not Phase.CLOSED:
        return h
    if h.failures + 1 >= policy.failures_to_open:
        return _open(h, now, policy)
    return replace(h, failures=h.failures + 1)


def _open(h: Health, now: float, policy: BreakerPolicy) -> Health:
    cooldown = policy.cooldowns_s[min(h.opened, len(policy.cooldowns_s) - 1)]
    return replace(h, phase=Phase.OPEN, failures=0, opened=h.opened + 1, until=now + cooldown)


def rate_limit(h: Health, now: float, retry_after_s: float | None,
               policy: BreakerPolicy) -> Health:
    """Park the candidate until its rate limit resets (capped), never shortening a longer park."""
    wait = policy.rate_limit_default_s if retry_after_s is None else retry_after_s
    until = now + min(max(wait, 0.0), policy.rate_limit_cap_s)
    if h.rate_limited_until is not None and h.rate_limited_until > until:
        return h
    return replace(h, rate_limited_until=until)


def transition(before: Health, after: Health, now: float) -> str | None:
    """The change worth recording once (a phase change, or the start of a rate limit), or None
    when the state moved without changing what callers see."""
    if before.phase is not after.phase:
        return after.phase.value
    began = after.rate_limited_until is not None and after.rate_limited_until > now
    was = before.rate_limited_until is not None and before.rate_limited_until > now
    return "rate_limited" if began and not was else None


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    millis = _number(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    text = headers.get("retry-after")
    if text is None:
        return None
    seconds = _number(text)
    if seconds is not None:
        return seconds
    try:
        return max(parsedate_to_datetime(text).timestamp() - now, 0.0)
    except (TypeError, ValueError):
        return None


def _number(text: str | None) -> float | None:
    """A finite, non-negative number, or None."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return max(value, 0.0) if math.isfinite(value) else None
