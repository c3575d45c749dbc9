"""The gateway: a request's tier walked as a waterfall of candidates, with breakers and the cap."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, tzinfo

from engine.gateway import breaker, costs
from engine.gateway.breaker import BreakerPolicy, Health
from engine.gateway.config import COMPLETION_TIERS, Candidate, RoutingTable
from engine.gateway.errors import (
    BadResponse,
    GatewayError,
    NoProviderAvailable,
    ProviderError,
    RateLimited,
    RequestRejected,
    SpendCapReached,
)
from engine.gateway.messages import (
    ZERO_USAGE,
    Completion,
    Message,
    Part,
    Request,
    Text,
    ToolCall,
    ToolResult,
    Usage,
)
from engine.gateway.providers.base import Provider, Reply, timed_out
from engine.gateway.repo import CallEnd, CallStart, GatewayRepo, HealthEvent
from engine.model import FailureClass
from security.redaction import redact, redact_json

log = logging.getLogger("steward.gateway")

Clock = Callable[[], float]

COUNTED_REJECTIONS = frozenset({401, 403, 404})
"""Refusals that say the candidate itself is unusable (key, model): they count towards its
breaker. Other refusals (400, 413, 422) are about the request and do not."""


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The gateway's knobs: the daily cap (days begin at midnight in ``zone``), the breaker
    policy, and how long past a candidate's own timeout a call is cut off regardless."""

    spend_cap_usd: float
    zone: tzinfo = UTC
    policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    hard_timeout_margin_s: float = 5.0


@dataclass(slots=True)
class _Walk:
    """What happened to each candidate of one request: skipped, capped or failed."""

    skipped: list[tuple[Candidate, str, float | None]] = field(default_factory=list)
    capped: list[Candidate] = field(default_factory=list)
    failed: list[tuple[Candidate, ProviderError]] = field(default_factory=list)
    ready_at: list[float] = field(default_factory=list)
    """When each failed candidate may be tried again (now, if at once)."""


class Gateway:
    """Completes requests on the routing table's candidates. Breaker state, rate-limit resets,
    reservations and every call are rows in the store, so they survive a restart."""

    def __init__(self, providers: Mapping[str, Provider], table: RoutingTable,
                 repo: GatewayRepo, config: GatewayConfig, clock: Clock = time.time) -> None:
        self._providers = dict(providers)
        self.table = table
        self._repo = repo
        self._config = config
        self._clock = clock

    def configured(self) -> list[str]:
        """The providers this gateway can reach (those with a key or a base URL)."""
        return sorted(self._providers)

    async def complete(self, request: Request) -> Completion:
        """Walk the tier's candidates until one answers; raise a ``GatewayError`` when none
        does. A transient failure of one candidate falls through to the next. Secrets are
        redacted from the request first: no provider ever sees one."""
        _check(request)
        request = redacted(request)
        walk = _Walk()
        for candidate in self.table.candidates(request.tier):
            done = await self._attempt(candidate, request, walk)
            if done is not None:
                return done
        if walk.capped and request.priority == 0:
            for candidate in self.table.free_fallbacks(request.tier):
                done = await self._attempt(candidate, request, walk)
                if done is not None:
                    return done
        raise self._exhausted(request, walk)

    async def aclose(self) -> None:
        """Close every provider's HTTP client."""
        for provider in self._providers.values():
            await provider.close()

    # -- one candidate -------------------------------------------------------------------------

    async def _attempt(self, c: Candidate, request: Request, walk: _Walk) -> Completion | None:
        provider = self._providers.get(c.provider)
        if c.key in request.exclude_models:
            walk.skipped.append((c, "excluded", None))
            return None
        if provider is None:
            walk.skipped.append((c, f"{c.provider} is not configured", None))
            return None
        now = self._clock()
        before = self._repo.health_of(c.key)
        admission = breaker.admit(before, now, self._config.policy)
        if not admission.allowed:
            walk.skipped.append((c, admission.reason, admission.until))
            return None
        call_id = self._open_call(c, request, now)
        if call_id is None:
            walk.capped.append(c)
            return None
        self._save_health(before, admission.health, now, "cooldown over: one probe")
        return await self._call(provider, c, request, call_id, admission.probe, walk)

    def _open_call(self, c: Candidate, request: Request, now: float) -> int | None:
        """Record the call; a paid one first reserves its most expensive outcome under the cap."""
        start = CallStart(request.job_id, c.provider, c.model, request.tier, request.priority,
                          0.0, now)
        if c.price.free:
            return self._repo.open_call(start)
        estimate = costs.estimate_input_tokens(request)
        reserve = costs.reservation_usd(estimate, request.max_tokens, c.price)
        start = replace(start, reserved_usd=reserve)
        day = costs.day_start(now, self._config.zone)
        return self._repo.reserve(start, day, self._config.spend_cap_usd)

    async def _call(self, provider: Provider, c: Candidate, request: Request, call_id: int,
                    probe: bool, walk: _Walk) -> Completion | None:
        began = time.perf_counter()
        try:
            reply = await self._ask(provider, c, request)
            _check_reply(reply)
        except ProviderError as exc:
            usage = exc.usage if isinstance(exc, BadResponse) else ZERO_USAGE
            self._settle(call_id, c, usage, _since_ms(began), exc.failure.value, str(exc))
            walk.failed.append((c, exc))
            walk.ready_at.append(self._failed(c, exc, probe))
            return None
        except BaseException:  # cancelled, or a bug: never leave the reservation held
            self._settle(call_id, c, ZERO_USAGE, _since_ms(began), "interrupted", None)
            raise
        latency_ms = _since_ms(began)
        cost = self._settle(call_id, c, reply.usage, latency_ms, "ok", None)
        before = self._repo.health_of(c.key)
        self._save_health(before, breaker.succeed(before, probe=probe), self._clock(),
                          "answered")
        return Completion(reply.message, reply.usage, c.provider, c.model, request.tier, cost,
                          reply.stop_reason, latency_ms)

    async def _ask(self, provider: Provider, c: Candidate, request: Request) -> Reply:
        """The provider call, cut off a little after its own timeout so nothing hangs."""
        try:
            async with asyncio.timeout(c.timeout_s + self._config.hard_timeout_margin_s):
                return await provider.complete(c.model, request, c.timeout_s)
        except TimeoutError:
            raise timed_out(c.timeout_s) from None

    def _settle(self, call_id: int, c: Candidate, usage: Usage, latency_ms: float,
                outcome: str, error: str | None) -> float:
        """Replace the call's reservation with its real cost; returns that cost."""
        cost = costs.cost_usd(usage, c.price)
        error = None if error is None else redact(error)
        self._repo.settle(call_id, CallEnd(usage, cost, latency_ms, outcome, error,
                                           self._clock()))
        return cost

    def _failed(self, c: Candidate, exc: ProviderError, probe: bool) -> float:
        """Update the candidate's health after a failure; returns when it may be tried again."""
        now = self._clock()
        before = self._repo.health_of(c.key)
        policy = self._config.policy
        # A probe that got any answer from the server shows the candidate is up again.
        answered = breaker.succeed(before, probe=True) if probe else before
        if isinstance(exc, RateLimited):
            after = breaker.rate_limit(answered, now, exc.retry_after_s, policy)
        elif isinstance(exc, RequestRejected) and exc.status not in COUNTED_REJECTIONS:
            after = answered
        else:
            after = breaker.fail(before, now, policy, probe=probe)
        self._save_health(before, after, now, str(exc))
        return _ready_at(after, now)

    def _save_health(self, before: Health, after: Health, now: float, reason: str) -> None:
        """Store a changed health; record and log it once when callers will notice."""
        if after == before:
            return
        self._repo.save_health(after, now)
        to_state = breaker.transition(before, after, now)
        if to_state is None:
            return
        until = after.rate_limited_until if to_state == "rate_limited" else after.until
        self._repo.add_event(HealthEvent(after.key, before.phase.value, to_state, until,
                                         reason, now))
        log.info("model %s: %s -> %s (%s)", after.key, before.phase.value, to_state, reason)

    # -- when nothing answered -----------------------------------------------------------------

    def _exhausted(self, request: Request, walk: _Walk) -> GatewayError:
        now = self._clock()
        if walk.failed:
            return _failed_error(request.tier, walk, now)
        if walk.capped and not any(c.price.free and u is not None for c, _, u in walk.skipped):
            day = costs.day_start(now, self._config.zone)
            spent = self._repo.spend_since(day).total_usd
            return SpendCapReached(self._config.spend_cap_usd, spent,
                                   costs.day_label(now, self._config.zone))
        return _skipped_error(request.tier, walk, now)


def redacted(request: Request) -> Request:
    """``request`` with secrets redacted from its prefix, texts, tool calls and tool results;
    the same object when nothing changed, so a clean request costs only the scan."""
    prefix = redact(request.stable_prefix)
    messages = tuple(_redacted_message(m) for m in request.messages)
    if prefix == request.stable_prefix and all(
            a is b for a, b in zip(messages, request.messages, strict=True)):
        return request
    return replace(request, stable_prefix=prefix, messages=messages)


def _redacted_message(message: Message) -> Message:
    parts = tuple(_redacted_part(p) for p in message.parts)
    if all(a is b for a, b in zip(parts, message.parts, strict=True)):
        return message
    return Message(message.role, parts)


def _redacted_part(part: Part) -> Part:
    if isinstance(part, Text):
        text = redact(part.text)
        return part if text == part.text else Text(text)
    if isinstance(part, ToolResult):
        content = redact(part.content)
        return part if content == part.content else replace(part, content=content)
    if isinstance(part, ToolCall):
        args = redact_json(part.arguments)
        raw = None if part.raw_arguments is None else redact(part.raw_arguments)
        same = args == part.arguments and raw == part.raw_arguments
        return part if same else replace(part, arguments=args, raw_arguments=raw)
    return part


def _since_ms(began: float) -> float:
    return (time.perf_counter() - began) * 1000


def _check(request: Request) -> None:
    if request.tier not in COMPLETION_TIERS:
        raise GatewayError(f"tier {request.tier!r} cannot complete; use one of "
                           f"{', '.join(COMPLETION_TIERS)}", failure=FailureClass.INVALID_INPUT)
    if not request.messages:
        raise GatewayError("a request needs at least one message",
                           failure=FailureClass.INVALID_INPUT)
    if request.max_tokens < 1:
        raise GatewayError("max_tokens must be at least 1", failure=FailureClass.INVALID_INPUT)


def _check_reply(reply: Reply) -> None:
    """An answer with neither text nor a tool call is no answer (it was still paid for)."""
    if not reply.message.text.strip() and not reply.message.tool_calls:
        raise BadResponse("empty completion", usage=reply.usage)


def _ready_at(h: Health, now: float) -> float:
    times = [now]
    if h.rate_limited_until is not None:
        times.append(h.rate_limited_until)
    if h.phase is not breaker.Phase.CLOSED and h.until is not None:
        times.append(h.until)
    return max(times)


def _failed_error(tier: str, walk: _Walk, now: float) -> GatewayError:
    """The error of the last candidate that failed transiently (else of the last one), saying
    what every candidate did, and when the soonest one may be tried again."""
    transient = [e for _, e in walk.failed if e.transient]
    last = transient[-1] if transient else walk.failed[-1][1]
    soonest = min(walk.ready_at + [u for _, _, u in walk.skipped if u is not None])
    wait = soonest - now
    retry_after_s = wait if wait > 0 else last.retry_after_s
    what = "; ".join(f"{c.key}: {e}" for c, e in walk.failed)
    return type(last)(f"tier {tier}: every candidate failed ({what})", status=last.status,
                      failure=last.failure, transient=last.transient,
                      retry_after_s=retry_after_s)


def _skipped_error(tier: str, walk: _Walk, now: float) -> NoProviderAvailable:
    waits = [(u, reason) for _, reason, u in walk.skipped if u is not None]
    what = "; ".join(f"{c.key}: {reason}" for c, reason, _ in walk.skipped)
    if not waits:
        return NoProviderAvailable(f"tier {tier}: no candidate can be used ({what})",
                                   failure=FailureClass.OTHER, transient=False)
    until, reason = min(waits)
    failure = FailureClass.RATE_LIMIT if reason == "rate limited" else FailureClass.SERVER_ERROR
    return NoProviderAvailable(
        f"tier {tier}: every candidate is resting ({what}); the first is back in "
        f"{max(until - now, 0):.0f} s", failure=failure, transient=True,
        retry_after_s=max(until - now, 0.0))
