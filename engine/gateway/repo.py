"""The gateway's repository: calls, spend, candidate health and its changes, over named queries."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from engine.gateway.breaker import Health, Phase
from engine.gateway.messages import Usage


class QueryRunner(Protocol):
    """What the repository needs of the store (``SqliteStore`` is one)."""

    def run(self, name: str, params: dict[str, Any] | tuple[Any, ...] | None = None
            ) -> list[sqlite3.Row]: ...

    def transaction(self) -> AbstractContextManager[None]: ...


@dataclass(frozen=True, slots=True)
class CallStart:
    """A call about to be made; ``reserved_usd`` is held against the cap until it settles."""

    job_id: int | None
    provider: str
    model: str
    tier: str
    priority: int
    reserved_usd: float
    now: float


@dataclass(frozen=True, slots=True)
class CallEnd:
    """How a call ended: ``outcome`` is ``ok`` or the failure class."""

    usage: Usage
    cost_usd: float
    latency_ms: float
    outcome: str
    error: str | None
    now: float


@dataclass(frozen=True, slots=True)
class CallRow:
    """One recorded call, for reports."""

    id: int
    job_id: int | None
    provider: str
    model: str
    tier: str
    usage: Usage
    latency_ms: float | None
    cost_usd: float
    reserved_usd: float
    outcome: str
    error: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """A candidate's health changed: ``to_state`` is a breaker phase or ``rate_limited``."""

    target: str
    from_state: str
    to_state: str
    until: float | None
    reason: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Spend:
    settled_usd: float
    reserved_usd: float

    @property
    def total_usd(self) -> float:
        return self.settled_usd + self.reserved_usd


class GatewayRepo:
    """One method per named query in ``engine/store/queries/gateway.sql``."""

    def __init__(self, store: QueryRunner) -> None:
        self._store = store

    def transaction(self) -> AbstractContextManager[None]:
        return self._store.transaction()

    def reserve(self, call: CallStart, day_start: float, cap_usd: float) -> int | None:
        """Record a paid call if its reservation fits under today's cap; its id, else None."""
        rows = self._store.run("gateway_reserve", {
            **_start(call), "day_start": day_start, "cap_usd": cap_usd})
        return int(rows[0][0]) if rows else None

    def open_call(self, call: CallStart) -> int:
        """Record a free call (nothing to reserve)."""
        return int(self._store.run("gateway_open_call", _start(call))[0][0])

    def settle(self, call_id: int, end: CallEnd) -> None:
        """Replace the call's reservation with what it really used and cost."""
        u = end.usage
        self._store.run("gateway_settle", {
            "id": call_id, "input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
            "cached_tokens": u.cached_tokens, "cache_write_tokens": u.cache_write_tokens,
            "latency_ms": end.latency_ms, "cost_usd": end.cost_usd, "outcome": end.outcome,
            "error": end.error, "now": end.now})

    def spend_since(self, since: float) -> Spend:
        row = self._store.run("gateway_spend_since", {"since": since})[0]
        return Spend(float(row["settled"]), float(row["reserved"]))

    def health(self) -> dict[str, Health]:
        """Every candidate's stored health, by ``provider/model``."""
        return {r["target"]: _health(r) for r in self._store.run("gateway_health_all")}

    def health_of(self, target: str) -> Health:
        """One candidate's health; a candidate never seen is healthy."""
        rows = self._store.run("gateway_health_of", {"target": target})
        return _health(rows[0]) if rows else Health(target)

    def save_health(self, h: Health, now: float) -> None:
        self._store.run("gateway_save_health", {
            "target": h.key, "phase": h.phase.value, "failures": h.failures,
            "opened": h.opened, "until": h.until, "rate_limited_until": h.rate_limited_until,
            "now": now})

    def add_event(self, event: HealthEvent) -> None:
        self._store.run("gateway_add_event", {
            "target": event.target, "from_state": event.from_state,
            "to_state": event.to_state, "until": event.until, "reason": event.reason,
            "now": event.created_at})

    def events_since(self, since: float) -> list[HealthEvent]:
        return [HealthEvent(r["target"], r["from_state"], r["to_state"], r["until"],
                            r["reason"], r["created_at"])
                for r in self._store.run("gateway_events_since", {"since": since})]

    def calls_since(self, since: float) -> list[CallRow]:
        return [_call(r) for r in self._store.run("gateway_calls_since", {"since": since})]

    def calls_of_job(self, job_id: int) -> list[CallRow]:
        return [_call(r) for r in self._store.run("gateway_calls_of_job", {"job_id": job_id})]


def _start(call: CallStart) -> dict[str, Any]:
    return {"job_id": call.job_id, "provider": call.provider, "model": call.model,
            "tier": call.tier, "priority": call.priority, "reserved_usd": call.reserved_usd,
            "now": call.now}


def _health(r: sqlite3.Row) -> Health:
    return Health(r["target"], Phase(r["phase"]), r["failures"], r["opened"], r["until"],
                  r["rate_limited_until"])


def _call(r: sqlite3.Row) -> CallRow:
    usage = Usage(r["input_tokens"], r["output_tokens"], r["cached_tokens"],
                  r["cache_write_tokens"])
    return CallRow(r["id"], r["job_id"], r["provider"], r["model"], r["tier"], usage,
                   r["latency_ms"], r["cost_usd"], r["reserved_usd"], r["outcome"], r["error"],
                   r["created_at"])
