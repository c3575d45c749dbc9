"""Retry decisions."""

from __future__ import annotations

import pytest

from engine.model import FailureClass as FC
from engine.rules.retry import decide


@pytest.mark.parametrize(("failure", "attempts", "retry", "delay"), [
    (FC.RATE_LIMIT, 1, True, 120.0),
    (FC.TIMEOUT, 2, True, 600.0),
    (FC.SERVER_ERROR, 3, True, 1800.0),
    (FC.SERVER_ERROR, 4, False, 0.0),
    (FC.CRASH, 1, True, 120.0),
    (FC.OTHER, 1, False, 0.0),
    (FC.INVALID_INPUT, 1, False, 0.0),
    (FC.UNCERTAIN_EFFECT, 1, False, 0.0),
])
def test_default_backoff(failure: FC, attempts: int, retry: bool, delay: float) -> None:
    d = decide(failure, attempts, max_attempts=4)
    assert (d.retry, d.delay_s) == (retry, delay)


def test_a_longer_retry_after_hint_wins() -> None:
    assert decide(FC.RATE_LIMIT, 1, 4, hinted_delay_s=900).delay_s == 900
    assert decide(FC.RATE_LIMIT, 1, 4, hinted_delay_s=5).delay_s == 120


def test_explicit_transient_overrides_the_class() -> None:
    assert decide(FC.OTHER, 1, 4, transient=True).retry
    assert not decide(FC.RATE_LIMIT, 1, 4, transient=False).retry


def test_delays_past_the_table_repeat_the_last() -> None:
    assert decide(FC.TIMEOUT, 5, 9, delays_s=(1.0, 2.0)).delay_s == 2.0
