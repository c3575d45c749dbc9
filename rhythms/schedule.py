"""Pure schedule maths: cron fire times in the owner's time zone, DST, and misfire policies.

Fire times are computed with croniter on *wall-clock* (naive) times, then each wall time is
placed on the timeline by one rule, the rule of cron(8):

- **Gap** (spring forward): a wall time the clocks skip fires once, the moment the gap ends
  (02:30 on a day that jumps from 02:00 to 03:00 fires at 03:00); several skipped times
  collapse into that one instant.
- **Overlap** (fall back): a wall time that happens twice fires once, at its first occurrence,
  unless the expression repeats every hour (its hour field is ``*``, like ``*/30 * * * *``):
  those follow elapsed time and fire in both occurrences.

A slot is identified by its instant (a UTC timestamp), so a slot is never fired twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from rhythms.errors import ScheduleError

ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
           "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@hourly": "0 * * * *"}
LOOKBACK = timedelta(hours=3)
"""Wider than any DST shift: how far before a wall time a later slot's instant can lie."""
MAX_STEPS = 5000
DEFAULT_GRACE_S = 300.0
"""A slot fired less than this late is on time, whatever the misfire policy."""
MAX_DUE = 1000
"""At most this many overdue slots are listed one by one; the rest are counted."""


@dataclass(frozen=True, slots=True)
class Cron:
    """A validated cron expression (five fields) in a named time zone."""

    expr: str
    tz: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def hourly(self) -> bool:
        """Repeats every hour: fires in both occurrences of a repeated hour."""
        return self.expr.split()[1].startswith("*")


def parse_cron(expr: str, tz: str) -> Cron:
    """A ``Cron``, or ``ScheduleError`` naming what is wrong with the expression or zone."""
    text = " ".join(expr.split())
    text = ALIASES.get(text.lower(), text)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {tz!r}; use a name like Europe/Berlin or UTC"
                            ) from None
    if len(text.split()) != 5 or not croniter.is_valid(text):
        raise ScheduleError(f"invalid cron expression {expr!r}: use five fields, "
                            "minute hour day month weekday (e.g. '0 8 * * *')")
    cron = Cron(text, tz)
    try:
        next_after(cron, datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    except (CroniterError, ScheduleError):
        raise ScheduleError(f"cron expression {expr!r} never fires") from None
    return cron


def next_after(cron: Cron, after: float) -> float:
    """The first fire instant strictly after ``after`` (a UTC timestamp)."""
    zone = cron.zone
    wall_after = datetime.fromtimestamp(after, zone).replace(tzinfo=None)
    try:
        it = croniter(cron.expr, wall_after - LOOKBACK)
    except CroniterBadCronError as exc:
        raise ScheduleError(f"invalid cron expression {cron.expr!r}: {exc}") from None
    best: tuple[float, datetime] | None = None
    for _ in range(MAX_STEPS):
        try:
            wall: datetime = it.get_next(datetime)
        except CroniterBadDateError:
            break
        if best is not None and wall > best[1] + LOOKBACK:
            return best[0]
        for t in instants(wall, zone, both=cron.hourly):
            if t > after and (best is None or t < best[0]):
                best = (t, wall)
    if best is None:
        raise ScheduleError(f"cron expression {cron.expr!r} has no fire time after {after}")
    return best[0]


def instants(wall: datetime, zone: ZoneInfo, *, both: bool) -> list[float]:
    """Where a naive wall time falls on the timeline (see the module docstring)."""
    first = wall.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        return [_gap_end(wall, zone)]
    t0, t1 = first.timestamp(), wall.replace(tzinfo=zone, fold=1).timestamp()
    return [t0, t1] if both and t1 != t0 else [t0]


def _gap_end(wall: datetime, zone: ZoneInfo) -> float:
    """The instant the clocks jump over ``wall``: the first moment whose wall time is later."""
    lo = math.floor(wall.replace(tzinfo=zone, fold=1).timestamp())
    hi = math.ceil(wall.replace(tzinfo=zone, fold=0).timestamp())
    lo, hi = min(lo, hi), max(lo, hi)
    while lo < hi:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid + 1
    return float(lo)


def slots_due(cron: Cron, planned: float, now: float, limit: int = MAX_DUE
              ) -> tuple[list[float], int]:
    """The slots from ``planned`` (itself a slot) up to ``now``, oldest first, at most
    ``limit`` of them (the newest are kept), and how many older ones were left out."""
    due: list[float] = []
    dropped = 0
    slot = planned
    while slot <= now:
        due.append(slot)
        if len(due) > limit:
            due.pop(0)
            dropped += 1
        slot = next_after(cron, slot)
    return due, dropped


# -- misfires ----------------------------------------------------------------------------------

MisfireKind = Literal["skip", "catch_up_once", "coalesce"]


@dataclass(frozen=True, slots=True)
class Misfire:
    """What to do with slots that passed while nothing could fire them (the process was down,
    the machine asleep). A slot less than ``grace_s`` late is simply on time.

    - ``skip``: late slots are missed; the next one runs on time.
    - ``catch_up_once``: the newest late slot runs once if it is at most ``within_s`` late.
    - ``coalesce``: the newest late slot runs once, however late.
    Every slot not run is recorded as missed."""

    kind: MisfireKind
    within_s: float = 0.0
    grace_s: float = DEFAULT_GRACE_S

    def __str__(self) -> str:
        return f"catch_up_once:{self.within_s:g}" if self.kind == "catch_up_once" else self.kind


def skip(grace_s: float = DEFAULT_GRACE_S) -> Misfire:
    return Misfire("skip", grace_s=grace_s)


def catch_up_once(within_s: float, grace_s: float = DEFAULT_GRACE_S) -> Misfire:
    return Misfire("catch_up_once", within_s, grace_s)


def coalesce(grace_s: float = DEFAULT_GRACE_S) -> Misfire:
    return Misfire("coalesce", grace_s=grace_s)


def parse_misfire(text: str) -> Misfire:
    """``skip``, ``coalesce`` or ``catch_up_once:SECONDS`` (as ``str(Misfire)`` writes it)."""
    kind, _, arg = text.partition(":")
    if kind == "skip" and not arg:
        return skip()
    if kind == "coalesce" and not arg:
        return coalesce()
    if kind == "catch_up_once":
        try:
            within = float(arg)
        except ValueError:
            within = -1.0
        if math.isfinite(within) and within > 0:
            return catch_up_once(within)
    raise ScheduleError(f"unknown misfire policy {text!r}: use skip, coalesce or "
                        "catch_up_once:SECONDS")


@dataclass(frozen=True, slots=True)
class Plan:
    """What the scheduler does with the due slots: run one (or none), record the rest."""

    run: float | None
    missed: tuple[tuple[float, str], ...]


def plan(policy: Misfire, due: list[float], now: float) -> Plan:
    """Decide over the due slots (oldest first) by the policy; every slot not run is missed,
    with its reason."""
    if not due:
        return Plan(None, ())
    newest = due[-1]
    late_s = now - newest
    on_time = late_s <= policy.grace_s
    if on_time or policy.kind == "coalesce" or (
            policy.kind == "catch_up_once" and late_s <= policy.within_s):
        reason = _superseded(policy, newest, on_time)
        return Plan(newest, tuple((s, reason) for s in due[:-1]))
    reason = (f"late by {_ago(late_s)}, past the {_ago(policy.within_s)} catch-up window"
              if policy.kind == "catch_up_once" else f"late by {_ago(late_s)} (policy skip)")
    return Plan(None, tuple((s, reason) for s in due))


def _superseded(policy: Misfire, newest: float, on_time: bool) -> str:
    if policy.kind == "coalesce":
        return f"coalesced into the run of {label(newest)}"
    return f"superseded by the run of {label(newest)} ({'on time' if on_time else 'caught up'})"


def _ago(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def label(slot: float) -> str:
    """A slot as it appears in keys and tables: its UTC instant, to the minute or second."""
    moment = datetime.fromtimestamp(slot, UTC)
    return moment.strftime("%Y-%m-%dT%H:%MZ" if moment.second == 0 else "%Y-%m-%dT%H:%M:%SZ")


def local_text(slot: float, tz: str) -> str:
    """A slot in the owner's time zone, for people: ``2025-03-30 08:00 CEST``."""
    return datetime.fromtimestamp(slot, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")
