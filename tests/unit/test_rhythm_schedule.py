"""Cron maths in the owner's zone (DST gaps and overlaps) and the misfire policies."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from rhythms.errors import ScheduleError
from rhythms.schedule import (
    Misfire,
    catch_up_once,
    coalesce,
    label,
    next_after,
    parse_cron,
    parse_misfire,
    plan,
    skip,
    slots_due,
)

HOUR = 3600.0


def at(zone: str, *parts: int, fold: int = 0) -> float:
    return datetime(*parts, tzinfo=ZoneInfo(zone), fold=fold).timestamp()  # type: ignore[arg-type,misc]


def fires(expr: str, zone: str, start: float, count: int) -> list[str]:
    """The next ``count`` fire times as local ``dd HH:MM+offset``."""
    cron, out, t = parse_cron(expr, zone), [], start
    for _ in range(count):
        t = next_after(cron, t)
        out.append(datetime.fromtimestamp(t, ZoneInfo(zone)).strftime("%d %H:%M%z"))
    return out


@pytest.mark.parametrize(("zone", "day", "expected"), [
    # spring forward: 02:30 does not exist; it fires once, when the gap ends (03:00)
    ("Europe/Berlin", (2025, 3, 30), ["30 03:00+0200", "31 02:30+0200"]),
    ("America/New_York", (2025, 3, 9), ["09 03:00-0400", "10 02:30-0400"]),
    # fall back (Berlin repeats 02:xx): a fixed time fires once, at its first occurrence
    ("Europe/Berlin", (2025, 10, 26), ["26 02:30+0200", "27 02:30+0100"]),
    ("America/New_York", (2025, 11, 2), ["02 02:30-0500", "03 02:30-0500"]),
])
def test_daily_slot_on_dst_days(zone: str, day: tuple[int, int, int],
                                expected: list[str]) -> None:
    assert fires("30 2 * * *", zone, at(zone, *day), 2) == expected


def test_repeated_hour_fixed_time_fires_once_in_new_york() -> None:
    assert fires("30 1 * * *", "America/New_York", at("America/New_York", 2025, 11, 2), 2) == [
        "02 01:30-0400", "03 01:30-0500"]


@pytest.mark.parametrize(("zone", "day", "expected"), [
    ("Europe/Berlin", (2025, 3, 30, 1, 0),
     ["30 01:30+0100", "30 03:00+0200", "30 03:30+0200"]),
    # every 30 minutes follows elapsed time: both occurrences of the repeated hour fire
    ("Europe/Berlin", (2025, 10, 26, 1, 45),
     ["26 02:00+0200", "26 02:30+0200", "26 02:00+0100", "26 02:30+0100", "26 03:00+0100"]),
    ("America/New_York", (2025, 11, 2, 0, 45),
     ["02 01:00-0400", "02 01:30-0400", "02 01:00-0500", "02 01:30-0500", "02 02:00-0500"]),
])
def test_half_hourly_on_dst_days(zone: str, day: tuple[int, ...], expected: list[str]) -> None:
    assert fires("*/30 * * * *", zone, at(zone, *day), len(expected)) == expected


def test_fires_at_eight_every_day_across_a_dst_change() -> None:
    zone = "Europe/Berlin"
    got = fires("0 8 * * *", zone, at(zone, 2025, 3, 29, 9, 0), 3)
    assert got == ["30 08:00+0200", "31 08:00+0200", "01 08:00+0200"]


def test_starting_inside_the_second_occurrence_does_not_repeat_the_first() -> None:
    zone = "Europe/Berlin"
    second = at(zone, 2025, 10, 26, 2, 40, fold=1)
    assert fires("30 2 * * *", zone, second, 1) == ["27 02:30+0100"]


@pytest.mark.parametrize(("expr", "zone", "says"), [
    ("61 * * * *", "UTC", "invalid cron expression"),
    ("* * * *", "UTC", "five fields"),
    ("* * * * * *", "UTC", "five fields"),
    ("0 8 * * *", "Mars/Olympus", "unknown time zone"),
    ("0 0 31 2 *", "UTC", "never fires"),
    ("@reboot", "UTC", "invalid cron expression"),
])
def test_bad_schedules_are_refused_with_a_clear_message(expr: str, zone: str, says: str) -> None:
    with pytest.raises(ScheduleError, match=says):
        parse_cron(expr, zone)


def test_aliases_expand() -> None:
    assert parse_cron("@daily", "UTC").expr == "0 0 * * *"
    assert parse_cron("  0   8 * * * ", "UTC").expr == "0 8 * * *"


def test_slots_due_lists_every_passed_slot_and_counts_the_rest() -> None:
    cron = parse_cron("0 * * * *", "UTC")
    start = at("UTC", 2025, 1, 1, 0, 0)
    due, dropped = slots_due(cron, start, start + 5 * HOUR + 10)
    assert [label(s) for s in due] == [f"2025-01-01T0{h}:00Z" for h in range(6)]
    assert dropped == 0
    due, dropped = slots_due(cron, start, start + 5 * HOUR, limit=2)
    assert len(due) == 2
    assert dropped == 4
    assert due[-1] == start + 5 * HOUR


NOW = 1_000_000.0


@pytest.mark.parametrize(("policy", "late_s", "runs"), [
    (catch_up_once(2 * HOUR), 60, True),           # on time
    (catch_up_once(2 * HOUR), 1.5 * HOUR, True),   # caught up once
    (catch_up_once(2 * HOUR), 2.5 * HOUR, False),  # too late: missed, not run
    (skip(), 60, True),
    (skip(), 31 * 60, False),
    (coalesce(), 30 * HOUR, True),
])
def test_plan_runs_the_newest_slot_or_none(policy: Misfire, late_s: float, runs: bool) -> None:
    due = [NOW - late_s - 2 * HOUR, NOW - late_s - HOUR, NOW - late_s]
    decided = plan(policy, due, NOW)
    assert (decided.run == due[-1]) is runs
    missed = [s for s, _ in decided.missed]
    assert missed == (due[:-1] if runs else due)
    assert all(reason for _, reason in decided.missed)


def test_plan_says_why_a_slot_was_missed() -> None:
    decided = plan(catch_up_once(2 * HOUR), [NOW - 3 * HOUR], NOW)
    assert decided.run is None
    assert decided.missed[0][1] == "late by 3.0 h, past the 2.0 h catch-up window"
    assert plan(skip(), [], NOW).run is None


@pytest.mark.parametrize("text", ["skip", "coalesce", "catch_up_once:7200"])
def test_misfire_round_trips(text: str) -> None:
    assert str(parse_misfire(text)) == text


@pytest.mark.parametrize("text", ["sometimes", "catch_up_once", "catch_up_once:-5",
                                  "skip:3", "catch_up_once:nan"])
def test_unknown_misfire_is_refused(text: str) -> None:
    with pytest.raises(ScheduleError, match="misfire policy"):
        parse_misfire(text)
