"""Decision cards: durable questions for the owner, resolved exactly once, resuming their job."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from engine import resolver
from engine.errors import EngineError
from engine.model import JobState
from engine.rules.cards import Tap, valid_choice
from engine.store.base import Store

REFUSALS = frozenset({"deny", "no", "cancel"})
"""Choices that cancel the job waiting on the card; any other choice lets it go on."""


@dataclass(frozen=True, slots=True)
class Choice:
    key: str
    label: str


@dataclass(frozen=True, slots=True)
class Card:
    id: int
    job_id: int | None
    question: str
    choices: tuple[Choice, ...]
    urgent: bool
    state: str
    choice: str | None
    message_ref: str | None
    created_at: float
    expires_at: float | None

    def label_of(self, key: str | None) -> str:
        return next((c.label for c in self.choices if c.key == key), key or "")


class TapOutcome(StrEnum):
    RESOLVED = "resolved"
    ALREADY = "already"
    """A second tap (or a tap on another device): harmless, the first one counted."""
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    """No such card, or a choice it never offered: stale or forged data."""


@dataclass(frozen=True, slots=True)
class TapResult:
    outcome: TapOutcome
    card: Card | None = None


def _card(r: sqlite3.Row) -> Card:
    choices = tuple(Choice(c["key"], c["label"]) for c in json.loads(r["choices"]))
    return Card(r["id"], r["job_id"], r["question"], choices, bool(r["urgent"]), r["state"],
                r["choice"], r["message_ref"], r["created_at"], r["expires_at"])


class Cards:
    """Opens, shows, expires and resolves decision cards."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def open(self, question: str, choices: list[Choice], *, job_id: int | None = None,
             urgent: bool = False, expires_in_s: float | None = None) -> Card:
        if not choices or not all(valid_choice(c.key) for c in choices):
            raise EngineError("a card needs choices keyed 1-16 of [a-z0-9_-]")
        now = self._clock()
        rows = self._store.run("card_open", {
            "job_id": job_id, "question": question, "urgent": int(urgent), "now": now,
            "choices": json.dumps([{"key": c.key, "label": c.label} for c in choices]),
            "expires_at": None if expires_in_s is None else now + expires_in_s})
        return _card(rows[0])

    def get(self, card_id: int) -> Card | None:
        rows = self._store.run("card_get", {"id": card_id})
        return _card(rows[0]) if rows else None

    def shown(self, card_id: int, message_ref: str) -> None:
        self._store.run("card_shown", {"id": card_id, "message_ref": message_ref})

    def pending(self) -> list[Card]:
        return [_card(r) for r in self._store.run("cards_open")]

    def expire_due(self) -> list[Card]:
        """Expire open cards past their time; the jobs waiting on them are cancelled."""
        now = self._clock()
        with self._store.transaction():
            expired = [_card(r) for r in self._store.run("card_expire_due", {"now": now})]
            for card in expired:
                self._settle_job(card, "deny", now, "the decision card expired")
        return expired

    def resolve(self, tap: Tap) -> TapResult:
        """Apply a tap exactly once, and let the job waiting on the card go on or stop."""
        now = self._clock()
        with self._store.transaction():
            card = self.get(tap.card_id)
            if card is None or tap.choice not in {c.key for c in card.choices}:
                return TapResult(TapOutcome.UNKNOWN, card)
            rows = self._store.run("card_resolve",
                                   {"id": card.id, "choice": tap.choice, "now": now})
            if not rows:
                return self._not_open(card)
            resolved = _card(rows[0])
            self._settle_job(resolved, tap.choice, now, f"the owner chose {tap.choice!r}")
        return TapResult(TapOutcome.RESOLVED, resolved)

    def _not_open(self, card: Card) -> TapResult:
        if card.state == "resolved":
            return TapResult(TapOutcome.ALREADY, card)
        if card.state == "open":  # past its time, not yet swept: sweep every overdue card
            self.expire_due()
        return TapResult(TapOutcome.EXPIRED, self.get(card.id))

    def _settle_job(self, card: Card, choice: str, now: float, why: str) -> None:
        if card.job_id is None:
            return
        job = self._store.get_job(card.job_id)
        if job.state is not JobState.AWAITING_APPROVAL:
            return
        if choice in REFUSALS:
            resolver.cancel(self._store, job.id, now, why)
        else:
            self._store.approve(job.id, now)
