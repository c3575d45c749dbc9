"""The owner gate: the first handler of every update, dropping all that is not the owner's.

It runs as a ``TypeHandler`` in group -1, before every other handler (``CallbackQueryHandler``
has no user filter of its own), and stops anything else from seeing a dropped update: no reply,
no job, only a count. It also drops an update handled before: a SIGKILLed bot gets its last
updates again. An update is recorded as handled (in SQLite) only once its handler finished, by
``handled`` in group 1, so a crash in the middle means it is handled again, not lost; what the
handlers do is idempotent (jobs and inbox items are keyed by the message, taps by the card).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.repo import BotRepo
from engine.errors import StoreError

log = logging.getLogger("steward.bot")

REMEMBER_UPDATES_S = 2 * 86_400.0
"""How long handled update ids are kept: far longer than Telegram redelivers anything."""
PRUNE_EVERY_S = 3600.0


def refusal(update: object, owner_id: int) -> str | None:
    """Why an update is dropped (a metric label), or None for the owner's own."""
    if not isinstance(update, Update):
        return "not_an_update"
    user = update.effective_user
    if user is None:
        return "no_user"
    if user.id != owner_id:
        return "stranger"
    chat = update.effective_chat
    if chat is not None and (chat.type != ChatType.PRIVATE or chat.id != owner_id):
        return "not_private"
    return None


class OwnerGate:
    """Lets through only the trusted user's updates in their private chat, each once."""

    def __init__(self, owner_id: int, repo: BotRepo, clock: Callable[[], float],
                 on_owner: Callable[[], None] = lambda: None) -> None:
        self._owner_id = owner_id
        self._repo = repo
        self._clock = clock
        self._on_owner = on_owner
        self._pruned_at = float("-inf")
        self.drops: Counter[str] = Counter()
        self.repeats = 0

    async def __call__(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        reason = refusal(update, self._owner_id)
        if reason is not None or not isinstance(update, Update):
            self.drops[reason or "not_an_update"] += 1
            raise ApplicationHandlerStop
        if self._repo.handled_before(update.update_id):
            self.repeats += 1
            log.info("update %d was handled before; ignored", update.update_id)
            raise ApplicationHandlerStop
        self._on_owner()

    async def handled(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """After the handlers (group 1): the owner's update is done with."""
        if isinstance(update, Update):
            now = self._clock()
            try:
                self._repo.handled(update.update_id, now)
                self._prune(now)
            except StoreError as exc:  # only the redelivery guard is lost, not the update
                log.warning("telegram: could not mark update %d handled: %s",
                            update.update_id, exc)

    def _prune(self, now: float) -> None:
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            self._repo.forget_updates(now - REMEMBER_UPDATES_S)
