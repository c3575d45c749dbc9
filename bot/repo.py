"""The bot's repository over named queries: handled updates and delivery state (the DATA inbox
lives in ``engine.inbox``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from engine.inbox import InboxItem as InboxItem  # re-exported: channels build items
from engine.model import JSON
from engine.store.base import Store


@dataclass(frozen=True, slots=True)
class Due:
    """An outbox row ready to go, with how far its delivery got."""

    id: int
    topic: str
    address: str | None
    payload: JSON
    job_id: int | None
    created_at: float
    parts_sent: int
    failures: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where one row's delivery stands; written whole after every try."""

    parts_sent: int = 0
    failures: int = 0
    next_try_at: float | None = None
    blocked: bool = False
    gave_up_at: float | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    pending: int
    given_up: int
    blocked: int


class BotRepo:
    """The bot's rows; every method is one named query in ``engine/store/queries/bot.sql``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def handled_before(self, update_id: int) -> bool:
        return bool(self._store.run("bot_update_known", {"update_id": update_id}))

    def handled(self, update_id: int, now: float) -> None:
        """Remember that ``update_id`` was handled: a redelivery of it will be ignored."""
        self._store.run("bot_update_handled", {"update_id": update_id, "now": now})

    def forget_updates(self, before: float) -> None:
        self._store.run("bot_updates_prune", {"before": before})

    def due(self, now: float, kinds: Sequence[str], home_kind: str, limit: int) -> list[Due]:
        rows = self._store.run("bot_outbox_due", {
            "now": now, "kinds": json.dumps(list(kinds)), "home_kind": home_kind,
            "limit": limit})
        return [Due(r["id"], r["topic"], r["address"], json.loads(r["payload"]), r["job_id"],
                    r["created_at"], r["parts_sent"], r["failures"]) for r in rows]

    def record(self, outbox_id: int, state: Delivery) -> None:
        self._store.run("bot_delivery_upsert", {
            "id": outbox_id, "parts_sent": state.parts_sent, "failures": state.failures,
            "next_try_at": state.next_try_at, "blocked": int(state.blocked),
            "gave_up_at": state.gave_up_at, "reason": state.reason})

    def unblock(self, now: float) -> int:
        """The owner showed a sign of life: rows held because the bot was blocked go now."""
        return len(self._store.run("bot_deliveries_unblock", {"now": now}))

    def outbox_counts(self) -> OutboxCounts:
        row = self._store.run("bot_outbox_counts")[0]
        return OutboxCounts(int(row["pending"]), int(row["given_up"]), int(row["blocked"]))
