"""A fault storm: 200 requests while 30% of calls fail at random on two providers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.gateway.breaker import Phase
from engine.gateway.costs import Price
from engine.gateway.errors import GatewayError, ProviderError, SpendCapReached
from engine.gateway.messages import Completion, Message, Request
from engine.gateway.repo import GatewayRepo
from engine.gateway.router import Gateway, GatewayConfig
from engine.model import FailureClass
from engine.store.sqlite import SqliteStore
from tests.fakes.clock import FakeClock
from tests.fakes.llm_servers import (
    CHAOS_FAULTS,
    FakeLLM,
    anthropic_provider,
    drop,
    empty,
    fake_anthropic,
    fake_openai,
    malformed,
    openai_provider,
    overloaded,
    rate_limited,
    server_error,
    slow,
    table,
)

__all__ = ["fake_anthropic", "fake_openai"]

REQUESTS = 200
CONCURRENCY = 20
STEP_S = 10.0
"""The fake clock moves this far as each request starts: the storm spans half an hour, so
breakers that open have cooled down and been probed before it ends."""
STORM_FAULTS = (rate_limited(retry_after="2"), server_error(500), server_error(502),
                server_error(503), overloaded(), drop(), malformed(), empty())
"""Every kind of fault, one each: a 429 parks a candidate rather than counting against it.
Slow answers (timeouts) join only the concurrent storm, where timing may vary freely."""

PHASES = {p.value for p in Phase}
ALLOWED = {  # from -> to, for every recorded change of a candidate's health
    ("closed", "open"), ("open", "half_open"), ("half_open", "closed"), ("half_open", "open"),
    ("closed", "rate_limited"), ("open", "rate_limited"), ("half_open", "rate_limited")}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore.open(tmp_path / "steward.db")
    yield opened
    opened.close()


def gateway(store: SqliteStore, clock: FakeClock, a: FakeLLM, o: FakeLLM, cap_usd: float,
            price: Price | None = None) -> Gateway:
    routing = (table({"mid": ["anthropic/claude", "openai/gpt"]}, timeout_s=0.5) if price is None
               else table({"mid": ["anthropic/claude", "openai/gpt"]}, price, timeout_s=0.5))
    providers = {"anthropic": anthropic_provider(a), "openai": openai_provider(o)}
    return Gateway(providers, routing, GatewayRepo(store), GatewayConfig(cap_usd), clock)


async def storm(gw: Gateway, clock: FakeClock, concurrency: int = CONCURRENCY,
                max_tokens: int = 64) -> list[Completion | BaseException]:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Completion:
        async with gate:
            clock.advance(STEP_S)
            return await gw.complete(Request("mid", (Message.user(f"request {i}"),),
                                             max_tokens=max_tokens, job_id=i))

    return await asyncio.gather(*(one(i) for i in range(REQUESTS)), return_exceptions=True)


@pytest.mark.parametrize("concurrency", [1, CONCURRENCY])
async def test_every_request_ends_cleanly_and_breakers_cycle(
        store: SqliteStore, fake_anthropic: FakeLLM, fake_openai: FakeLLM,
        concurrency: int) -> None:
    """One at a time the storm is deterministic, and its breakers are seen to open, let a
    probe through and close; twenty at a time, the order varies, and every change recorded
    must still be one the design allows."""
    faults = STORM_FAULTS if concurrency == 1 else (*STORM_FAULTS, slow(5.0))
    fake_anthropic.chaos(0.3, faults, seed=11)
    fake_openai.chaos(0.3, faults, seed=12)
    clock = FakeClock()
    gw = gateway(store, clock, fake_anthropic, fake_openai, cap_usd=100.0)
    results = await asyncio.wait_for(storm(gw, clock, concurrency), timeout=45)
    await gw.aclose()
    repo = GatewayRepo(store)
    calls = repo.calls_since(0)

    done = [r for r in results if isinstance(r, Completion)]
    errors = [r for r in results if not isinstance(r, Completion)]
    assert all(isinstance(e, GatewayError) for e in errors), errors
    assert len(done) > REQUESTS * 0.7
    outcomes = {c.outcome for c in calls}
    assert outcomes <= {"ok", *(f.value for f in FailureClass)}
    for e in errors:
        assert isinstance(e, GatewayError)
        assert e.failure in FailureClass
        if isinstance(e, ProviderError):
            assert e.failure.value in outcomes

    served = len(fake_anthropic.requests) + len(fake_openai.requests)
    timeouts = sum(1 for c in calls if c.outcome == "timeout")
    # Every call the servers saw is a row, failures included; a call that timed out before
    # its server read it (a loaded machine) is a row the servers never saw.
    assert served <= len(calls) <= served + timeouts
    assert sum(1 for c in calls if c.outcome == "ok") == len(done)
    assert all(c.reserved_usd == 0 for c in calls), "no reservation is left held"

    events = repo.events_since(0)
    assert {(e.from_state, e.to_state) for e in events} <= ALLOWED
    kinds = {e.to_state for e in events}
    if concurrency == 1:
        assert {"open", "half_open", "closed", "rate_limited"} <= kinds, kinds
    for target in ("anthropic/claude", "openai/gpt"):
        phases = [e.to_state for e in events if e.target == target and e.to_state in PHASES]
        for before, after in zip(["closed", *phases], phases, strict=False):
            assert (before, after) in ALLOWED, (target, phases)


async def test_a_storm_with_a_tight_cap_never_overspends(
        store: SqliteStore, fake_anthropic: FakeLLM, fake_openai: FakeLLM) -> None:
    fake_anthropic.chaos(0.3, CHAOS_FAULTS, seed=21)
    fake_openai.chaos(0.3, CHAOS_FAULTS, seed=22)
    cap_usd = 0.5
    clock = FakeClock()
    price = Price(input=500.0, output=1500.0, cached=50.0)
    gw = gateway(store, clock, fake_anthropic, fake_openai, cap_usd, price)
    results = await asyncio.wait_for(storm(gw, clock, max_tokens=32), timeout=45)
    await gw.aclose()
    capped = [r for r in results if isinstance(r, SpendCapReached)]
    assert capped, "the cap was reached during the storm"
    assert all(isinstance(r, Completion | GatewayError) for r in results)
    spend = GatewayRepo(store).spend_since(0)
    assert spend.reserved_usd == 0
    assert 0 < spend.settled_usd <= cap_usd
