"""The notify rate as ``/status`` shows it."""

from __future__ import annotations

import pytest

from bot.render import notify_rate
from engine.rules.judgment import NotifyRate


@pytest.mark.parametrize(("today", "week", "text"), [
    (NotifyRate(0, 0, 0), NotifyRate(0, 0, 0),
     "Background results: none judged in the last 7 days"),
    (NotifyRate(0, 0, 0), NotifyRate(3, 1, 120),
     "Background results that notified: 3 of 120 (2.5%) in the last 7 days, none judged today"),
    (NotifyRate(1, 0, 14), NotifyRate(3, 0, 120),
     "Background results that notified: 3 of 120 (2.5%) in the last 7 days, 1 of 14 (7.1%) "
     "today"),
])
def test_the_notify_rate_line(today: NotifyRate, week: NotifyRate, text: str) -> None:
    assert notify_rate(today, week) == text
