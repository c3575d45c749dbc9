"""Decision cards on any channel: shown with buttons, tapped once, edited to their outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.channel import Button, Channel, Keyboard, MessageRef, send_long
from bot.errors import ChannelError
from bot.markup import esc, units
from bot.render import one_line, truncate
from engine.cards import REFUSALS, Card, Cards, Choice, TapOutcome, TapResult
from engine.loop import Engine
from engine.rules.cards import Tap, pack

log = logging.getLogger("steward.bot")

QUESTION_UNITS = 3500
"""A longer question does not fit one card with its buttons: it is shown cut, without buttons,
and ``/card ID`` shows it in full with them."""
CUT_MARK = "#cut"
"""Marks the message of a card shown cut: no tap on it can count, only on ``/card ID``'s."""
PARKED_PREFIX = "awaiting approval: "
APPROVAL_CHOICES = [Choice("approve", "Approve"), Choice("deny", "Deny")]


def fits(card: Card) -> bool:
    return units(esc(card.question)) <= QUESTION_UNITS


def keyboard(card: Card) -> Keyboard:
    """One row of buttons, one per choice; the callback data is ``card:<id>:<choice>``."""
    return [[Button(c.label, pack(card.id, c.key)) for c in card.choices]]


def shown(card: Card) -> tuple[str, Keyboard]:
    """The card as first shown: the question and its buttons, or cut and without buttons."""
    head = "<b>Decision needed</b>" + (" (urgent)" if card.urgent else "")
    if fits(card):
        return f"{head}\n{esc(card.question)}", keyboard(card)
    cut = esc(truncate(card.question, QUESTION_UNITS // 2))
    return (f"{head}\n{cut}\n\n<i>This question is too long for a card. "
            f"Open it in full, with its choices, with /card {card.id}</i>"), []


def settled(card: Card) -> str:
    """The card edited to its outcome: the question and what was decided."""
    question = esc(truncate(card.question, QUESTION_UNITS))
    if card.state == "resolved":
        mark = "✗" if card.choice in REFUSALS else "✓"
        return f"{question}\n\n{mark} <b>{esc(card.label_of(card.choice))}</b>"
    return f"{question}\n\n⌛ <i>Expired without a decision.</i>"


def tap_answer(result: TapResult) -> str:
    """The short note shown to the owner after a tap."""
    card = result.card
    match result.outcome:
        case TapOutcome.RESOLVED:
            return f"Done: {card.label_of(card.choice)}" if card else "Done"
        case TapOutcome.ALREADY:
            return f"Already decided: {card.label_of(card.choice)}" if card else "Already decided"
        case TapOutcome.EXPIRED:
            return "This decision expired; nothing was done."
    return "This button is no longer valid."


@dataclass(frozen=True, slots=True)
class TapReply:
    """What to tell the owner after a tap, and the card's new text (None: leave it)."""

    note: str
    edit: str | None


class CardDesk:
    """Presents, expires and resolves decision cards on one channel, at the owner's address."""

    def __init__(self, engine: Engine, cards: Cards, channel: Channel, home: str,
                 clock: Callable[[], float]) -> None:
        self._engine = engine
        self._cards = cards
        self._channel = channel
        self._home = home
        self._clock = clock

    def ask_for_parked(self, limit: int = 20) -> int:
        """Open an approval card for every job parked without one."""
        rows = self._engine.store.run("bot_parked_without_card", {"limit": limit})
        for job_id, reason in rows:
            what = one_line(str(reason or "")).removeprefix(PARKED_PREFIX) or "go on"
            self._cards.open(f"Job {job_id} asks for approval to: {what}", APPROVAL_CHOICES,
                             job_id=job_id)
        return len(rows)

    async def present(self, quiet: bool) -> int:
        """Show open cards not shown yet (in quiet hours only urgent ones); returns how many."""
        count = 0
        for card in self._cards.pending():
            if card.message_ref is not None or (quiet and not card.urgent):
                continue
            text, buttons = shown(card)
            ref = await send_long(self._channel, self._home, text, buttons)
            self._cards.shown(card.id, str(ref) + ("" if buttons else CUT_MARK))
            count += 1
        return count

    async def sweep(self) -> int:
        """Expire cards past their time and edit their messages to say so."""
        expired = self._cards.expire_due()
        for card in expired:
            await self._edit(card)
        return len(expired)

    def tap(self, tap: Tap | None, ref: MessageRef | None) -> TapReply:
        """Apply a tap exactly once. A tap on a message other than the card's (stale, forged)
        or on data that is not a card changes nothing."""
        card = self._cards.get(tap.card_id) if tap else None
        if tap is None or card is None:
            return TapReply("This button is no longer valid.", None)
        if ref is not None and card.state == "open" and card.message_ref != str(ref):
            return TapReply(f"This button is out of date; /card {card.id} shows the card.", None)
        result = self._engine.resolve_card(self._cards, tap)
        after = result.card
        edit = settled(after) if after is not None and after.state != "open" else None
        return TapReply(tap_answer(result), edit)

    async def _edit(self, card: Card) -> None:
        ref = MessageRef.parse((card.message_ref or "").removesuffix(CUT_MARK))
        if ref is None:
            return
        try:
            await self._channel.edit(ref, settled(card))
        except ChannelError as exc:
            log.warning("card %d: could not edit its message: %s", card.id, exc)
