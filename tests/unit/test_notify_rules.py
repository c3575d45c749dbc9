"""Quiet hours, backoff and what counts as an answer to the owner."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.notify_rules import backoff_s, is_answer, quiet_until, request_key, urgent
from bot.settings import QuietHours
from engine.model import BackendName, Job, JobState, Origin, Trust

NIGHT = QuietHours(time(22), time(7))
LUNCH = QuietHours(time(12), time(13, 30))
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, zone: ZoneInfo | None = None) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone or UTC).timestamp()


@pytest.mark.parametrize(("now", "quiet", "until"), [
    ("2024-05-01 21:59", NIGHT, None),
    ("2024-05-01 22:00", NIGHT, "2024-05-02 07:00"),
    ("2024-05-01 23:30", NIGHT, "2024-05-02 07:00"),
    ("2024-05-02 06:59", NIGHT, "2024-05-02 07:00"),
    ("2024-05-02 07:00", NIGHT, None),
    ("2024-05-01 12:15", LUNCH, "2024-05-01 13:30"),
    ("2024-05-01 13:30", LUNCH, None),
])
def test_quiet_until(now: str, quiet: QuietHours, until: str | None) -> None:
    assert quiet_until(at(now), quiet, UTC) == (None if until is None else at(until))


def test_quiet_hours_are_in_the_owners_zone_across_dst() -> None:
    # The night clocks go forward in Berlin: the window still ends at 07:00 local time.
    assert quiet_until(at("2024-03-30 23:00", BERLIN), NIGHT, BERLIN) == at(
        "2024-03-31 07:00", BERLIN)


def test_no_quiet_hours_hold_nothing() -> None:
    assert quiet_until(at("2024-05-01 23:00"), None, UTC) is None


def job(origin: Origin, key: str | None = None) -> Job:
    return Job(1, BackendName.LLM, JobState.DONE, {}, 2, origin, Trust.COMMAND, key, 0, 4, 1, 0,
               None, None, None, "telegram:1", None, None, None, None, 0, 0, 0, 0, False, 0, None)


def test_answers_are_replies_to_the_owner() -> None:
    assert is_answer("job_finished", job(Origin.OWNER))
    assert is_answer("job_finished", job(Origin.SYSTEM, request_key("telegram", "1:2", "triage")))
    assert not is_answer("job_finished", job(Origin.RHYTHM))
    assert not is_answer("alert", job(Origin.OWNER))
    assert not is_answer("job_finished", None)


def test_urgent_and_backoff() -> None:
    assert urgent({"urgent": True})
    assert not urgent({"urgent": "yes"})
    assert [backoff_s(n) for n in (1, 2, 3, 7, 20)] == [1, 2, 4, 60, 60]
