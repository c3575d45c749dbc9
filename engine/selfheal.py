"""Self-heal and incidents.

``on_finish`` runs in the resolver's transaction when a job fails for good: a failure a second
model's advice may cure (malformed output, context loss) is queued for one self-heal, and every
failure of the job's own counts towards the incident of its signature. ``SelfHealer`` works the
queue (a diagnosis by a model of another provider, then one retry with the advice in the
payload; never more than one per job) and asks the owner, once per incident, to acknowledge a
recurring failure with a decision card. ``Incidents`` reads and acknowledges them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.errors import EngineError, StoreError
from engine.gateway.errors import GatewayError
from engine.gateway.messages import Message, Request
from engine.model import FailureClass, Job, JobState
from engine.rules import selfheal as rules
from engine.store.base import Store
from security.redaction import redact

if TYPE_CHECKING:  # the router loads the provider SDKs; the hook must stay light
    from engine.cards import Cards
    from engine.gateway.router import Gateway

log = logging.getLogger("steward.selfheal")

ACK = "ack"
DEFAULT_TIER = "mid"

GatewaySource = Callable[[], Awaitable["Gateway | None"]]
"""The gateway when one is configured (built on first use in ``steward run``), else None."""


def fixed(gateway: Gateway | None) -> GatewaySource:
    """A ``GatewaySource`` for a gateway already built (or none)."""
    async def source() -> Gateway | None:
        return gateway

    return source


def on_finish(store: Store, job: Job, state: JobState, now: float, error: str | None,
              failure: FailureClass | None) -> None:
    """Note a job that failed for good: queue its self-heal (or close the one it had), and
    count it towards its signature's incident. Inside the caller's transaction."""
    if state not in (JobState.FAILED, JobState.DEAD) or failure is None:
        return
    if store.run("ops_heal_get", {"job_id": job.id}):
        store.run("ops_heal_failed_again", {"job_id": job.id, "now": now,
                                            "note": (error or "")[:500]})
    elif state is JobState.FAILED and rules.heal_refusal(
            job.backend, failure, job.trust, job.payload) is None:
        store.run("ops_heal_add", {"job_id": job.id, "state": "pending",
                                   "failure_class": failure.value, "error": error,
                                   "note": None, "now": now})
    if rules.counts_as_incident(job.backend, failure):
        store.run("ops_incident_sync_acks")
        store.run("ops_incident_note", {
            "signature": rules.signature(job.backend, failure, error), "now": now,
            "backend": job.backend.value, "failure_class": failure.value,
            "error": redact((error or "")[:500]), "job_id": job.id})


@dataclass(frozen=True, slots=True)
class HealConfig:
    every_s: float = 5.0
    batch: int = 5
    max_tokens: int = 400
    incident_threshold: int = rules.INCIDENT_THRESHOLD


class SelfHealer:
    """Works the self-heal queue and opens incident cards; ``retry`` is ``Engine.retry``."""

    def __init__(self, store: Store, gateway: GatewaySource, retry: Callable[[int], None],
                 cards: Cards | None = None, clock: Callable[[], float] = time.time,
                 config: HealConfig | None = None) -> None:
        self._store = store
        self._gateway = gateway
        self._retry = retry
        self._cards = cards
        self._clock = clock
        self._config = config or HealConfig()

    async def run(self, stop: asyncio.Event) -> None:
        """A pass every ``every_s`` until ``stop``; a busy database waits for the next one."""
        while not stop.is_set():
            try:
                await self.heal_pass()
            except StoreError as exc:
                log.warning("self-heal: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._config.every_s)

    async def heal_pass(self) -> int:
        """Settle healed jobs, card due incidents, then heal queued jobs; returns how many
        jobs were retried with advice."""
        now = self._clock()
        with self._store.transaction():
            self._store.run("ops_heal_settle", {"now": now})
            self._card_incidents()
        retried = 0
        for row in self._store.run("ops_heal_pending", {"limit": self._config.batch}):
            retried += await self._heal(int(row["job_id"]), FailureClass(row["failure_class"]),
                                        row["error"])
        return retried

    def _card_incidents(self) -> None:
        if self._cards is None:
            return
        from engine.cards import Choice

        self._store.run("ops_incident_sync_acks")
        due = self._store.run("ops_incidents_due_card",
                              {"threshold": self._config.incident_threshold})
        for row in due:
            card = self._cards.open(incident_question(row), [Choice(ACK, "Acknowledge")])
            self._store.run("ops_incident_set_card", {"card_id": card.id, "id": row["id"]})

    async def _heal(self, job_id: int, failure: FailureClass, error: str | None) -> int:
        job = self._store.get_job(job_id)
        if job.state is not JobState.FAILED:
            return self._skip(job_id, f"the job is {job.state.value} now")
        gateway = await self._gateway()
        if gateway is None:
            return self._skip(job_id, "no model is configured to diagnose it")
        model = self._store.run("ops_model_of_job", {"job_id": job_id})
        failed_key = f"{model[0]['provider']}/{model[0]['model']}" if model else None
        tier = str(model[0]["tier"]) if model else str(job.payload.get("tier") or DEFAULT_TIER)
        route = rules.diagnosis_route(self._tiers(gateway), tier, failed_key)
        if route is None:
            return self._skip(job_id, "no model of another provider to diagnose it")
        template = self._store.template_of(job_id)
        prompt = rules.diagnosis_prompt(failure, error, rules.task_text(template))
        request = Request(tier=route.tier, messages=(Message.user(redact(prompt)),),
                          max_tokens=self._config.max_tokens, job_id=job_id,
                          priority=job.priority, exclude_models=route.exclude)
        try:
            completion = await gateway.complete(request)
        except GatewayError as exc:
            return self._skip(job_id, f"the diagnosis failed: {exc}")
        advice = redact(completion.message.text.strip())
        return self._apply(job_id, failure, template, advice, completion.key)

    def _apply(self, job_id: int, failure: FailureClass, template: object, advice: str,
               model: str) -> int:
        payload = rules.healed_payload(template, failure, advice)
        try:
            with self._store.transaction():
                claimed = self._store.run("ops_heal_claim", {
                    "job_id": job_id, "state": "retried", "diagnosis": advice, "model": model,
                    "note": "retried once with the advice", "now": self._clock()})
                if not claimed:
                    return 0
                self._store.run("ops_heal_apply", {"id": job_id, "payload": json.dumps(payload)})
                self._retry(job_id)
        except EngineError as exc:
            return self._skip(job_id, f"could not retry: {exc}")
        log.info("self-heal: job %d runs once more with advice from %s", job_id, model)
        return 1

    def _skip(self, job_id: int, why: str) -> int:
        self._store.run("ops_heal_claim", {"job_id": job_id, "state": "skipped",
                                           "diagnosis": None, "model": None, "note": why,
                                           "now": self._clock()})
        log.info("self-heal: job %d not healed: %s", job_id, why)
        return 0

    @staticmethod
    def _tiers(gateway: Gateway) -> dict[str, list[tuple[str, str]]]:
        """The routing table's candidates that a configured provider serves."""
        configured = set(gateway.configured())
        return {tier: [(c.key, c.provider) for c in candidates if c.provider in configured]
                for tier, candidates in gateway.table.tiers.items()}


def incident_question(row: sqlite3.Row) -> str:
    return (f"Recurring failure (incident {row['id']}): {row['count']} {row['backend']} jobs "
            f"failed ({row['failure_class']}), the last being job {row['last_job_id']}: "
            f"{(row['sample_error'] or 'no error recorded')[:200]}. Acknowledge it to stop "
            "hearing about it; it is tracked until then.")


# -- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    signature: str
    backend: str
    failure_class: str
    sample_error: str | None
    count: int
    first_seen: float
    last_seen: float
    last_job_id: int | None
    card_id: int | None
    acked_at: float | None


def _incident(r: sqlite3.Row) -> Incident:
    return Incident(r["id"], r["signature"], r["backend"], r["failure_class"], r["sample_error"],
                    r["count"], r["first_seen"], r["last_seen"], r["last_job_id"], r["card_id"],
                    r["acked_at"])


class Incidents:
    """Incidents and self-heals as the owner sees them."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time,
                 threshold: int = rules.INCIDENT_THRESHOLD) -> None:
        self._store = store
        self._clock = clock
        self.threshold = threshold

    def listing(self, include_acked: bool = False, limit: int = 20) -> list[Incident]:
        with self._store.transaction():
            self._store.run("ops_incident_sync_acks")
        rows = self._store.run("ops_incidents_list", {"all": include_acked, "limit": limit})
        return [_incident(r) for r in rows]

    def open_count(self) -> int:
        """Unacknowledged incidents that have recurred enough to be shown."""
        rows = self._store.run("ops_incidents_open_count", {"threshold": self.threshold})
        return int(rows[0]["n"])

    def ack(self, incident_id: int) -> Incident | None:
        """Acknowledge an incident (None if there is none with that id), and settle its card
        if it has one open."""
        now = self._clock()
        with self._store.transaction():
            self._store.run("ops_incident_sync_acks")
            rows = self._store.run("ops_incident_ack", {"id": incident_id, "now": now})
            if not rows:
                found = self._store.run("ops_incident_get", {"id": incident_id})
                return _incident(found[0]) if found else None
            incident = _incident(rows[0])
            if incident.card_id is not None:
                self._store.run("card_resolve", {"id": incident.card_id, "choice": ACK,
                                                 "now": now})
        return incident

    def heal_counts(self) -> dict[str, int]:
        """Self-heals by state: pending, retried, healed, failed_again, skipped."""
        return {r["state"]: int(r["n"]) for r in self._store.run("ops_heal_counts")}
