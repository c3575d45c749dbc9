"""The notifier: drains the outbox to the owner's channels, and shows decision cards.

A row is marked sent only after its last part went out, and each part's progress is written
after that part was sent: a crash between a send and its commit sends that one part again on
restart, never more (at most one duplicate), and nothing is ever lost. Rows the channel refuses
for good stay in the outbox, marked failed with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from enum import Enum

from bot import markup, render_chat
from bot.cards_view import CardDesk
from bot.channel import Channel, kind_of
from bot.errors import Blocked, ChannelError, Rejected, SendLater, Unreachable
from bot.notify_rules import backoff_s, is_answer, quiet_until, urgent
from bot.repo import BotRepo, Delivery, Due
from bot.settings import QuietHours
from engine.errors import JobNotFound, StoreError
from engine.model import JSON, Job
from engine.store.base import Store

log = logging.getLogger("steward.bot")

BATCH = 20
BLOCKED_RETRY_S = 3600.0
"""A blocked bot tries again after this long, or as soon as the owner writes to it."""
CARD_RETRY_S = 60.0
"""A card the channel refused is shown again after this long."""


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    content: bytes
    photo: bool


def attachment(payload: JSON) -> Attachment | None:
    """The file an outbox row carries (``{"file": {"name", "b64", "photo"}}``: a rhythm's
    chart), or None; a file that does not decode is left out rather than blocking the row."""
    found = payload.get("file") if isinstance(payload, dict) else None
    if not isinstance(found, dict) or not isinstance(found.get("name"), str):
        return None
    try:
        content = base64.b64decode(str(found.get("b64", "")), validate=True)
    except binascii.Error:
        log.warning("outbox: an attached file does not decode; sending the text only")
        return None
    return Attachment(found["name"], content, found.get("photo") is True) if content else None


class Flow(Enum):
    NEXT = "next"
    PAUSE = "pause"
    """The channel is rate-limited or unreachable: stop this pass."""


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    home: str
    """The owner's address: rows without one, and decision cards, go there."""
    zone: tzinfo
    quiet: QuietHours | None = None
    poll_s: float = 0.5
    owns_home: bool = True
    """False for a console beside a running ``steward run``: rows without an address are that
    process's to deliver, not this one's."""


@dataclass
class _Progress:
    sent: int
    plain: bool = False


@dataclass
class _State:
    pause_until: float = 0.0
    cards_paused_until: float = 0.0
    maybe_blocked: bool = True
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Notifier:
    """Delivers outbox rows to the channels it is given (by address kind)."""

    def __init__(self, store: Store, repo: BotRepo, channels: Mapping[str, Channel],
                 config: NotifyConfig, desk: CardDesk | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._repo = repo
        self._channels = dict(channels)
        self._config = config
        self._desk = desk
        self._clock = clock
        self._s = _State()

    def poke(self) -> None:
        """Something was written to the outbox: look now rather than at the next poll."""
        self._s.wake.set()

    def owner_seen(self) -> None:
        """The owner wrote to the bot, so it is not blocked: rows held for that go now."""
        self._s.cards_paused_until = 0.0
        if self._s.maybe_blocked:
            self._s.maybe_blocked = False
            if self._repo.unblock(self._clock()):
                self.poke()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._s.wake.clear()
            try:
                await self.drain()
            except StoreError as exc:
                log.warning("notifier: the database is busy (%s); trying again", exc)
            except Exception:  # the loop boundary: a bug must not end notifications
                log.exception("notifier: unexpected error; trying again")
            await self._sleep(stop)

    async def _sleep(self, stop: asyncio.Event) -> None:
        wait_s = max(self._s.pause_until - self._clock(), self._config.poll_s)
        waits = [asyncio.ensure_future(stop.wait())]
        if self._s.pause_until <= self._clock():
            waits.append(asyncio.ensure_future(self._s.wake.wait()))
        try:
            await asyncio.wait(waits, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def drain(self) -> int:
        """One pass: cards first, then due rows in order; returns how many rows were sent."""
        now = self._clock()
        if now < self._s.pause_until:
            return 0
        quiet_end = quiet_until(now, self._config.quiet, self._config.zone)
        if (self._desk is not None and now >= self._s.cards_paused_until
                and not await self._cards(self._desk, quiet_end is not None)):
            return 0
        sent = 0
        home = kind_of(self._config.home) if self._config.owns_home else ""
        for row in self._repo.due(now, list(self._channels), home, BATCH):
            flow, delivered = await self._deliver(row, now, quiet_end)
            sent += delivered
            if flow is Flow.PAUSE:
                break
        return sent

    async def _cards(self, desk: CardDesk, quiet: bool) -> bool:
        try:
            desk.ask_for_parked()
            await desk.present(quiet)
            await desk.sweep()
        except ChannelError as exc:
            return self._failed_card(exc) is Flow.NEXT
        return True

    def _failed_card(self, exc: ChannelError) -> Flow:
        """Transient trouble pauses everything; a refusal pauses only cards (a blocked bot
        until the owner is back), so one card is not tried again every pass."""
        log.warning("decision cards: %s", exc)
        now = self._clock()
        if isinstance(exc, SendLater | Unreachable):
            self._s.pause_until = now + (exc.delay_s if isinstance(exc, SendLater)
                                         else backoff_s(1))
            return Flow.PAUSE
        self._s.cards_paused_until = now + (BLOCKED_RETRY_S if isinstance(exc, Blocked)
                                            else CARD_RETRY_S)
        return Flow.NEXT

    async def _deliver(self, row: Due, now: float, quiet_end: float | None) -> tuple[Flow, int]:
        if quiet_end is not None and not (
                urgent(row.payload) or is_answer(row.topic, self._job(row.job_id))):
            self._repo.record(row.id, Delivery(row.parts_sent, row.failures, quiet_end))
            return Flow.NEXT, 0
        address = row.address or self._config.home
        channel = self._channels[kind_of(address)]
        parts = markup.split(self.render(row), channel.limit)
        progress = _Progress(row.parts_sent)
        try:
            await self._send(row, channel, address, parts, progress)
        except Rejected as exc:
            log.warning("outbox %d: %s; sending it as plain text", row.id, exc)
            progress.plain = True
            try:
                await self._send(row, channel, address, parts, progress)
            except ChannelError as again:
                return self._failed(row, progress, again), 0
        except ChannelError as exc:
            return self._failed(row, progress, exc), 0
        self._store.outbox_mark_sent(row.id, self._clock())
        return Flow.NEXT, 1

    @staticmethod
    def render(row: Due) -> str:
        if row.topic == "job_finished" and isinstance(row.payload, dict):
            return render_chat.answer(row.payload)
        return render_chat.notice(row.topic, row.payload)

    def _job(self, job_id: int | None) -> Job | None:
        if job_id is None:
            return None
        with contextlib.suppress(JobNotFound):
            return self._store.get_job(job_id)
        return None

    async def _send(self, row: Due, channel: Channel, address: str, parts: list[str],
                    progress: _Progress) -> None:
        for i in range(progress.sent, len(parts)):
            text = markup.plain(parts[i]) if progress.plain else parts[i]
            await channel.send(address, text, plain=progress.plain)
            progress.sent = i + 1
            if progress.sent < len(parts):
                self._repo.record(row.id, Delivery(progress.sent, row.failures))
        attached = attachment(row.payload)
        if attached is not None and progress.sent == len(parts):  # the file goes last, once
            await channel.send_file(address, attached.name, attached.content,
                                    photo=attached.photo)
            progress.sent += 1

    def _failed(self, row: Due, progress: _Progress, exc: ChannelError) -> Flow:
        now = self._clock()
        match exc:
            case SendLater(delay_s=delay):
                log.info("outbox %d: rate limited; waiting %g s", row.id, delay)
                self._hold(row, progress, now + delay)
                return Flow.PAUSE
            case Unreachable():
                wait = backoff_s(row.failures + 1)
                log.warning("outbox %d: %s; trying again in %g s", row.id, exc, wait)
                self._repo.record(row.id, Delivery(progress.sent, row.failures + 1, now + wait))
                self._s.pause_until = now + wait
                return Flow.PAUSE
            case Blocked():
                log.warning("outbox %d: the owner has blocked the bot (%s); kept for later",
                            row.id, exc)
                self._store.outbox_mark_failed(row.id, f"blocked: {exc}")
                self._repo.record(row.id, Delivery(progress.sent, row.failures,
                                                   now + BLOCKED_RETRY_S, blocked=True))
                self._s.maybe_blocked = True
                return Flow.NEXT
        log.error("outbox %d: the channel refused it (%s); kept, marked failed", row.id, exc)
        self._store.outbox_mark_failed(row.id, str(exc))
        self._repo.record(row.id, Delivery(progress.sent, row.failures, gave_up_at=now,
                                           reason=str(exc)))
        return Flow.NEXT

    def _hold(self, row: Due, progress: _Progress, until: float) -> None:
        self._repo.record(row.id, Delivery(progress.sent, row.failures, until))
        self._s.pause_until = until
