"""Chat's conversation so far: the owner's recent exchanges on one address, read back from the
answered chat jobs themselves (their payload asked, their result answered), bounded by tokens.

``/new`` starts a fresh conversation by remembering, per address, the last job id before it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.store.base import Store

TokenCounter = Callable[[str], int]

CHAT_NAME = "chat"
"""The name of every chat job: how its exchanges are found again."""
HISTORY_TOKENS = 2_000
"""At most this much of the conversation so far goes with each message."""
HISTORY_EXCHANGES = 6
MESSAGE_CHARS = 2_000
"""A longer message of the history is cut: one long answer must not push out all the rest."""
SCAN_JOBS = 5_000
"""Only chat jobs among the latest this many jobs are looked at."""
SINCE_KEY = "chat.since:"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One message of the owner's and the answer it got."""

    asked: str
    answered: str


def exchange_of(payload: Any, result: Any) -> Exchange | None:
    """The exchange a chat job holds (its last user message, its answer's text), or None."""
    asked = _asked(payload)
    answered = result.get("text") if isinstance(result, dict) else None
    if not asked or not isinstance(answered, str) or not answered.strip():
        return None
    return Exchange(_cut(asked), _cut(answered.strip()))


def _asked(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    if isinstance(payload.get("prompt"), str):
        return str(payload["prompt"])
    messages = payload.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        content = messages[-1].get("content")
        return content if isinstance(content, str) else None
    return None


def _cut(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else f"{text[:MESSAGE_CHARS]} […]"


def fit(newest_first: Sequence[Exchange], budget_tokens: int,
        count: TokenCounter) -> list[Exchange]:
    """The latest exchanges that fit ``budget_tokens`` together, oldest first; the history
    stops at the first that does not fit, so it never has a hole in it."""
    kept: list[Exchange] = []
    used = 0
    for exchange in newest_first:
        used += count(exchange.asked) + count(exchange.answered)
        if used > budget_tokens:
            break
        kept.append(exchange)
    return kept[::-1]


def messages(history: Sequence[Exchange], text: str) -> list[dict[str, str]]:
    """An ``llm`` payload's ``messages``: the exchanges so far, then the new message."""
    turns: list[dict[str, str]] = []
    for exchange in history:
        turns += [{"role": "user", "content": exchange.asked},
                  {"role": "assistant", "content": exchange.answered}]
    return [*turns, {"role": "user", "content": text}]


class ChatHistory:
    """The conversation on each address, as stored in the jobs; ``/new`` starts over."""

    def __init__(self, store: Store, budget_tokens: int = HISTORY_TOKENS,
                 count: TokenCounter | None = None) -> None:
        self._store = store
        self._budget = budget_tokens
        self._count = count

    async def recent(self, address: str) -> list[Exchange]:
        """The exchanges to send with the next message on ``address``, oldest first."""
        rows = self._store.run("chat_history", {
            "since": self._since(address), "scan": SCAN_JOBS, "address": address,
            "name": CHAT_NAME, "limit": HISTORY_EXCHANGES})
        found = [e for r in rows
                 if (e := exchange_of(_json(r["payload"]), _json(r["result"]))) is not None]
        if not found:
            return []
        return fit(found, self._budget, await self._counter())

    def start_over(self, address: str) -> None:
        """Forget the conversation on ``address``: the next message starts a new one (the
        jobs, and what memory kept, stay)."""
        last = self._store.run("chat_last_job")[0]["id"]
        self._store.meta_set(SINCE_KEY + address, str(last))

    def _since(self, address: str) -> int:
        value = self._store.meta_get(SINCE_KEY + address)
        return int(value) if value and value.isdigit() else 0

    async def _counter(self) -> TokenCounter:
        """cl100k_base, loaded once in a thread (a fifth of a second) off the event loop."""
        if self._count is None:
            self._count = await asyncio.to_thread(_load_counter)
        return self._count


def _load_counter() -> TokenCounter:
    from engine.workers.llm_tokens import cl100k_counter

    return cl100k_counter()


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
