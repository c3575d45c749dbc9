"""The gateway's waterfall, breakers, rate limits, spend cap and cost rows, on fake servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.gateway.breaker import Phase
from engine.gateway.config import RoutingTable
from engine.gateway.costs import Price, estimate_input_tokens, reservation_usd
from engine.gateway.errors import (
    BadResponse,
    GatewayError,
    NoProviderAvailable,
    ProviderDown,
    RateLimited,
    RequestRejected,
    SpendCapReached,
)
from engine.gateway.messages import Message, Request, Usage
from engine.gateway.providers.base import Provider
from engine.gateway.providers.openai import OpenAIProvider
from engine.gateway.repo import GatewayRepo
from engine.gateway.router import Gateway, GatewayConfig
from engine.model import FailureClass
from engine.store.sqlite import SqliteStore
from tests.fakes.clock import FakeClock
from tests.fakes.llm_servers import (
    TEST_PRICE,
    FakeLLM,
    anthropic_provider,
    empty,
    fake_anthropic,
    fake_openai,
    openai_provider,
    overloaded,
    rate_limited,
    server_error,
    shared_tls,
    slow,
    table,
)

__all__ = ["fake_anthropic", "fake_openai"]

HELLO = Request("mid", (Message.user("hello"),), job_id=7)
TABLE = table({"mid": ["anthropic/claude", "openai/gpt"],
               "cheap": ["openai/mini", "ollama/local"]}, free=["ollama/local"])


@dataclass
class Rig:
    path: Path
    store: SqliteStore
    clock: FakeClock
    a: FakeLLM
    o: FakeLLM
    gateway: Gateway
    others: list[Gateway]

    def build(self, routing: RoutingTable = TABLE, cap_usd: float = 5.0) -> Gateway:
        """Another gateway over the same store and servers, closed with the rig."""
        gateway = build(self.store, self.clock, self.a, self.o, routing, cap_usd)
        self.others.append(gateway)
        return gateway

    @property
    def repo(self) -> GatewayRepo:
        return GatewayRepo(self.store)

    def outcomes(self) -> list[tuple[str, str]]:
        return [(f"{c.provider}/{c.model}", c.outcome) for c in self.repo.calls_since(0)]

    def events(self) -> list[tuple[str, str, str]]:
        return [(e.target, e.from_state, e.to_state) for e in self.repo.events_since(0)]


def build(store: SqliteStore, clock: FakeClock, a: FakeLLM, o: FakeLLM,
          routing: RoutingTable = TABLE, cap_usd: float = 5.0) -> Gateway:
    providers: dict[str, Provider] = {
        "anthropic": anthropic_provider(a), "openai": openai_provider(o),
        "ollama": OpenAIProvider.connect("ollama", "ollama", o.openai_url,
                                         legacy_max_tokens=True, tls=shared_tls())}
    return Gateway(providers, routing, GatewayRepo(store), GatewayConfig(cap_usd), clock)


@pytest.fixture
async def rig(tmp_path: Path, fake_anthropic: FakeLLM, fake_openai: FakeLLM
              ) -> AsyncIterator[Rig]:
    store = SqliteStore.open(tmp_path / "steward.db")
    clock = FakeClock()
    gateway = build(store, clock, fake_anthropic, fake_openai)
    rig = Rig(tmp_path, store, clock, fake_anthropic, fake_openai, gateway, [])
    yield rig
    for opened in (rig.gateway, *rig.others):
        await opened.aclose()
    rig.store.close()


async def test_the_first_candidate_answers_and_the_call_is_a_row(rig: Rig) -> None:
    done = await rig.gateway.complete(HELLO)
    assert (done.provider, done.model, done.tier, done.message.text) == (
        "anthropic", "claude", "mid", "echo: hello")
    (row,) = rig.repo.calls_of_job(7)
    assert (row.outcome, row.usage, row.reserved_usd) == ("ok", done.usage, 0.0)
    assert row.cost_usd == pytest.approx(done.cost_usd)
    assert done.cost_usd > 0
    assert rig.gateway.configured() == ["anthropic", "ollama", "openai"]


async def test_a_transient_failure_falls_through_within_the_call(rig: Rig) -> None:
    rig.a.push(overloaded())
    done = await rig.gateway.complete(HELLO)
    assert done.provider == "openai"
    assert rig.outcomes() == [("anthropic/claude", "server_error"), ("openai/gpt", "ok")]


@pytest.mark.parametrize("fault", [server_error(500), server_error(502), server_error(503),
                                   overloaded(), empty(), rate_limited()])
async def test_every_kind_of_fault_falls_through(rig: Rig, fault: object) -> None:
    rig.a.push(fault)  # type: ignore[arg-type]
    assert (await rig.gateway.complete(HELLO)).provider == "openai"


async def test_when_all_fail_the_last_transient_error_says_what_each_did(rig: Rig) -> None:
    rig.a.push(overloaded())
    rig.o.push(server_error(503))
    with pytest.raises(ProviderDown) as caught:
        await rig.gateway.complete(HELLO)
    err = caught.value
    assert (err.failure, err.transient, err.retry_after_s) == (
        FailureClass.SERVER_ERROR, True, None)
    assert "anthropic/claude: HTTP 529" in str(err)
    assert "openai/gpt: HTTP 503" in str(err)


async def test_an_empty_completion_is_recorded_with_its_cost(rig: Rig) -> None:
    rig.a.push(empty())
    rig.o.push(empty())
    with pytest.raises(BadResponse, match="empty completion"):
        await rig.gateway.complete(HELLO)
    rows = rig.repo.calls_since(0)
    assert [r.outcome for r in rows] == ["other", "other"]
    assert all(r.usage.input_tokens > 0 and r.cost_usd > 0 for r in rows)


async def test_three_failures_open_the_breaker_then_one_probe_closes_it(rig: Rig) -> None:
    rig.a.push(overloaded(), overloaded(), overloaded())
    for _ in range(3):
        await rig.gateway.complete(HELLO)
    seen = len(rig.a.requests)
    assert (await rig.gateway.complete(HELLO)).provider == "openai"
    assert len(rig.a.requests) == seen, "an open breaker is skipped without a call"
    rig.clock.advance(120)
    assert (await rig.gateway.complete(HELLO)).provider == "anthropic"
    assert rig.events() == [("anthropic/claude", "closed", "open"),
                            ("anthropic/claude", "open", "half_open"),
                            ("anthropic/claude", "half_open", "closed")]


async def test_a_failed_probe_reopens_for_longer(rig: Rig) -> None:
    rig.a.push(*[overloaded()] * 4)
    for _ in range(3):
        await rig.gateway.complete(HELLO)
    rig.clock.advance(120)
    await rig.gateway.complete(HELLO)
    health = rig.repo.health_of("anthropic/claude")
    assert (health.phase, health.until) == (Phase.OPEN, rig.clock.now + 600)
    assert rig.events()[-1] == ("anthropic/claude", "half_open", "open")


async def test_breakers_survive_a_restart(rig: Rig) -> None:
    rig.a.push(overloaded(), overloaded(), overloaded())
    for _ in range(3):
        await rig.gateway.complete(HELLO)
    await rig.gateway.aclose()
    rig.store.close()
    rig.store = SqliteStore.open(rig.path / "steward.db")
    rig.gateway = build(rig.store, rig.clock, rig.a, rig.o)
    seen = len(rig.a.requests)
    assert (await rig.gateway.complete(HELLO)).provider == "openai"
    assert len(rig.a.requests) == seen


async def test_a_rate_limit_parks_the_candidate_until_its_reset(rig: Rig) -> None:
    rig.a.push(rate_limited(retry_after="20"))
    assert (await rig.gateway.complete(HELLO)).provider == "openai"
    rig.clock.advance(19)
    assert (await rig.gateway.complete(HELLO)).provider == "openai"
    rig.clock.advance(1)
    assert (await rig.gateway.complete(HELLO)).provider == "anthropic"
    assert rig.events() == [("anthropic/claude", "closed", "rate_limited")]
    assert rig.repo.health_of("anthropic/claude").phase is Phase.CLOSED


async def test_no_retry_after_parks_for_long(rig: Rig) -> None:
    rig.a.push(rate_limited(retry_after="86400"))
    await rig.gateway.complete(HELLO)
    until = rig.repo.health_of("anthropic/claude").rate_limited_until
    assert until == rig.clock.now + 600


async def test_all_rate_limited_says_when_to_come_back(rig: Rig) -> None:
    rig.a.push(rate_limited(retry_after="30"))
    rig.o.push(rate_limited(retry_after_ms="12000"))
    with pytest.raises(RateLimited) as first:
        await rig.gateway.complete(HELLO)
    assert first.value.retry_after_s == pytest.approx(12.0)
    with pytest.raises(NoProviderAvailable) as second:
        await rig.gateway.complete(HELLO)
    err = second.value
    assert (err.transient, err.failure) == (True, FailureClass.RATE_LIMIT)
    assert err.retry_after_s == pytest.approx(12.0)


async def test_open_breakers_everywhere_give_the_soonest_reopening(rig: Rig) -> None:
    rig.a.push(*[overloaded()] * 3)
    rig.o.push(*[server_error(500)] * 3)
    for _ in range(3):
        with pytest.raises(ProviderDown):
            await rig.gateway.complete(HELLO)
    rig.clock.advance(100)
    with pytest.raises(NoProviderAvailable) as caught:
        await rig.gateway.complete(HELLO)
    assert (caught.value.transient, caught.value.failure) == (True, FailureClass.SERVER_ERROR)
    assert caught.value.retry_after_s == pytest.approx(20.0)


async def test_unconfigured_and_excluded_candidates_are_skipped(rig: Rig) -> None:
    routing = table({"mid": ["openrouter/x", "anthropic/claude", "openai/gpt"]})
    gateway = Gateway({"openai": openai_provider(rig.o), "anthropic": anthropic_provider(rig.a)},
                      routing, rig.repo, GatewayConfig(5.0), rig.clock)
    rig.others.append(gateway)
    checker = Request("mid", HELLO.messages, exclude_models=("anthropic/claude",))
    assert (await gateway.complete(checker)).key == "openai/gpt"
    nothing = Request("mid", HELLO.messages, exclude_models=("anthropic/claude", "openai/gpt"))
    with pytest.raises(NoProviderAvailable, match="openrouter is not configured") as caught:
        await gateway.complete(nothing)
    assert not caught.value.transient


async def test_a_bad_request_falls_through_without_counting_against_the_breaker(
        rig: Rig) -> None:
    for _ in range(3):
        rig.a.push(server_error(400))
        rig.o.push(server_error(400))
        with pytest.raises(RequestRejected) as caught:
            await rig.gateway.complete(HELLO)
        assert not caught.value.transient
    assert rig.repo.health_of("anthropic/claude").phase is Phase.CLOSED


async def test_a_refused_key_counts_against_the_breaker(rig: Rig) -> None:
    rig.a.push(*[server_error(401)] * 3)
    for _ in range(3):
        await rig.gateway.complete(HELLO)
    assert rig.repo.health_of("anthropic/claude").phase is Phase.OPEN


async def test_a_slow_candidate_times_out_and_falls_through(rig: Rig) -> None:
    routing = table({"mid": ["anthropic/claude", "openai/gpt"]}, timeout_s=0.3)
    gateway = rig.build(routing)
    rig.a.push(slow(10.0))
    assert (await gateway.complete(HELLO)).provider == "openai"
    assert rig.outcomes()[0] == ("anthropic/claude", "timeout")


@pytest.mark.parametrize("request_", [
    Request("embed", (Message.user("x"),)), Request("mid", ()),
    Request("mid", (Message.user("x"),), max_tokens=0)])
async def test_requests_that_cannot_be_completed(rig: Rig, request_: Request) -> None:
    with pytest.raises(GatewayError) as caught:
        await rig.gateway.complete(request_)
    assert caught.value.failure is FailureClass.INVALID_INPUT
    assert not rig.a.requests


async def test_cached_tokens_are_recorded_and_billed_at_the_cached_rate(rig: Rig) -> None:
    prefixed = Request("mid", HELLO.messages, stable_prefix="You are Steward. " * 600)
    first = await rig.gateway.complete(prefixed)
    second = await rig.gateway.complete(prefixed)
    assert first.usage.cache_write_tokens > 1000
    assert second.usage.cached_tokens == first.usage.cache_write_tokens
    assert second.cost_usd < first.cost_usd / 5
    rows = rig.repo.calls_since(0)
    assert [r.usage for r in rows] == [first.usage, second.usage]


# -- the daily spend cap --------------------------------------------------------------------------


def capped(rig: Rig, cap_usd: float) -> Gateway:
    return rig.build(cap_usd=cap_usd)


async def test_at_the_cap_paid_candidates_are_skipped(rig: Rig) -> None:
    gateway = capped(rig, 0.0)
    with pytest.raises(SpendCapReached) as caught:
        await gateway.complete(HELLO)
    err = caught.value
    assert not err.transient
    assert str(err).startswith("daily spend cap reached: $0.00 of $0.00 spent on 1970-01-12")
    assert not rig.a.requests
    assert not rig.o.requests


async def test_a_tier_with_a_free_candidate_uses_it_at_the_cap(rig: Rig) -> None:
    gateway = capped(rig, 0.0)
    done = await gateway.complete(Request("cheap", HELLO.messages))
    assert (done.key, done.cost_usd) == ("ollama/local", 0.0)


async def test_p0_degrades_to_a_free_model_of_another_tier(rig: Rig) -> None:
    gateway = capped(rig, 0.0)
    urgent = Request("mid", HELLO.messages, priority=0)
    done = await gateway.complete(urgent)
    assert (done.key, done.tier) == ("ollama/local", "mid")
    with pytest.raises(SpendCapReached):
        await gateway.complete(Request("mid", HELLO.messages, priority=1))


async def test_the_cap_counts_what_was_spent_today(rig: Rig) -> None:
    spent = (await rig.gateway.complete(HELLO)).cost_usd
    routing = table({"mid": ["anthropic/claude"]})
    most = reservation_usd(estimate_input_tokens(HELLO), HELLO.max_tokens, TEST_PRICE)
    gateway = rig.build(routing, cap_usd=spent + most * 0.99)
    with pytest.raises(SpendCapReached):
        await gateway.complete(HELLO)
    rig.clock.advance(86400)
    assert (await gateway.complete(HELLO)).provider == "anthropic"


async def test_concurrent_calls_cannot_overshoot_the_cap(rig: Rig) -> None:
    price = Price(input=1000.0, output=1000.0, cached=100.0)
    routing = table({"mid": ["anthropic/claude"]}, price=price)
    request = Request("mid", HELLO.messages, max_tokens=100)
    gateway = rig.build(routing, cap_usd=1.0)
    rig.a.reply_text = "ok"
    results = await asyncio.gather(*(gateway.complete(request) for _ in range(20)),
                                   return_exceptions=True)
    answered = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, SpendCapReached)]
    assert len(answered) + len(refused) == 20
    assert answered
    assert refused
    spend = rig.repo.spend_since(0)
    assert spend.reserved_usd == 0
    assert spend.settled_usd <= 1.0


async def test_a_cancelled_call_releases_its_reservation(rig: Rig) -> None:
    rig.a.push(slow(10.0))
    task = asyncio.create_task(rig.gateway.complete(HELLO))
    await rig.a.until_requests(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (row,) = rig.repo.calls_since(0)
    assert (row.outcome, row.reserved_usd, row.usage) == ("interrupted", 0.0, Usage(0, 0, 0))
