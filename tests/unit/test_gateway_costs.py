"""Cost maths: token normalisation across providers, prices, reservations, spend days."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.gateway.costs import (
    FREE,
    Price,
    cost_usd,
    day_label,
    day_start,
    estimate_input_tokens,
    from_anthropic,
    from_openai,
    reservation_usd,
)
from engine.gateway.messages import Image, Message, Request, ToolCall, ToolResult, ToolSpec, Usage

SONNET = Price(input=3.0, output=15.0, cached=0.3, cache_write=3.75)
GPT = Price(input=1.25, output=10.0, cached=0.125)


def test_openai_prompt_tokens_already_include_cached() -> None:
    u = from_openai(prompt_tokens=3000, completion_tokens=100, cached_tokens=2048)
    assert u == Usage(3000, 100, 2048, 0)
    assert u.uncached_tokens == 952


def test_anthropic_input_tokens_exclude_cache_reads_and_writes() -> None:
    u = from_anthropic(input_tokens=50, output_tokens=100, cache_read=2000, cache_write=300)
    assert u == Usage(2350, 100, 2000, 300)
    assert u.uncached_tokens == 50


def test_the_same_prompt_normalises_to_the_same_usage_on_both() -> None:
    assert from_openai(2050, 10, 2000) == from_anthropic(50, 10, 2000, 0)


@pytest.mark.parametrize(("usage", "price", "expected"), [
    (Usage(1_000_000, 0, 0), SONNET, 3.0),
    (Usage(0, 1_000_000, 0), SONNET, 15.0),
    (Usage(1_000_000, 0, 1_000_000), SONNET, 0.3),
    (Usage(1_000_000, 0, 0, 1_000_000), SONNET, 3.75),
    (Usage(2_350, 100, 2_000, 300), SONNET, (50 * 3 + 2000 * 0.3 + 300 * 3.75 + 100 * 15) / 1e6),
    (Usage(1_000_000, 0, 0, 1_000_000), GPT, 1.25),
    (Usage(123_456, 7_890, 100_000), FREE, 0.0),
])
def test_cost_prices_each_kind_of_token(usage: Usage, price: Price, expected: float) -> None:
    assert cost_usd(usage, price) == pytest.approx(expected)


def test_free_means_every_rate_is_zero() -> None:
    assert FREE.free
    assert not Price(0, 0, 0, cache_write=1.0).free
    assert not GPT.free


def test_the_reservation_is_an_upper_bound() -> None:
    assert reservation_usd(1000, 500, SONNET) == pytest.approx((1000 * 3.75 + 500 * 15) / 1e6)
    assert reservation_usd(1000, 500, GPT) == pytest.approx((1000 * 1.25 + 500 * 10) / 1e6)
    assert reservation_usd(1000, 500, FREE) == 0


def test_the_input_estimate_leans_high() -> None:
    english = "The quick brown fox jumps over the lazy dog. " * 100
    r = Request("mid", (Message.user(english),))
    assert estimate_input_tokens(r) >= len(english) / 4
    cjk = Request("mid", (Message.user("漢字" * 500),))
    assert estimate_input_tokens(cjk) >= 1000


def test_the_estimate_counts_every_part() -> None:
    base = Request("mid", (Message.user("hi"),))
    fuller = Request(
        "mid",
        (Message.user("hi"), Message("user", (Image("image/png", "AAAA"),)),
         Message("assistant", (ToolCall("c1", "read", {"path": "/etc/hosts"}),)),
         Message.tool_results(ToolResult("c1", "x" * 300))),
        stable_prefix="p" * 3000,
        tools=(ToolSpec("read", "read a file", {"type": "object"}),))
    assert estimate_input_tokens(fuller) > estimate_input_tokens(base) + 1000 + 1600 + 100


@pytest.mark.parametrize(("zone", "when", "start"), [
    ("UTC", datetime(2026, 3, 29, 13, 5, tzinfo=UTC), datetime(2026, 3, 29, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2026, 3, 28, 23, 30, tzinfo=UTC),
     datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),
    # The day clocks go forward is 23 hours long; it still starts at local midnight.
    ("Europe/Berlin", datetime(2026, 3, 29, 21, 30, tzinfo=UTC),
     datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 1, 2, 3, 0, tzinfo=UTC),
     datetime(2026, 1, 1, 5, 0, tzinfo=UTC)),
])
def test_spend_days_begin_at_local_midnight(zone: str, when: datetime, start: datetime) -> None:
    assert day_start(when.timestamp(), ZoneInfo(zone)) == start.timestamp()


def test_day_label_is_the_local_date() -> None:
    t = datetime(2026, 1, 2, 3, 0, tzinfo=UTC).timestamp()
    assert day_label(t, ZoneInfo("America/New_York")) == "2026-01-01"
    assert day_label(t, UTC) == "2026-01-02"
