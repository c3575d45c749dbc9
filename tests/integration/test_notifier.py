"""The notifier on the real Telegram channel: each error kind, parts, quiet hours, nothing lost."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot

from bot.cards_view import CardDesk
from bot.channel import TELEGRAM, telegram_address
from bot.notifier import BLOCKED_RETRY_S, Notifier, NotifyConfig
from bot.repo import BotRepo
from bot.settings import QuietHours
from bot.telegram.channel import TelegramChannel
from engine import resolver
from engine.cards import Cards, Choice
from engine.model import BackendName, JobSpec, Origin
from engine.store.sqlite import SqliteStore
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_server import FakeTelegram, Fault
from tests.integration.bot_kit import engine_on

OWNER = 4242
HOME = telegram_address(OWNER)
NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp()


@dataclass
class Desk:
    fake: FakeTelegram
    store: SqliteStore
    repo: BotRepo
    clock: FakeClock
    notifier: Notifier

    def answer(self, text: Any, origin: Origin = Origin.OWNER) -> int:
        """A finished job's answer in the outbox, as the engine writes it."""
        job_id, _ = self.store.insert_job(resolver.new_job(
            JobSpec(BackendName.SKILL, {}, origin=origin, reply_to=HOME), self.clock()))
        self.store.outbox_add("job_finished", {"job_id": job_id, "name": None, "state": "done",
                                               "result": text, "error": None},
                              self.clock(), address=HOME, job_id=job_id)
        return job_id

    def outbox(self) -> list[sqlite3.Row]:
        with contextlib.closing(sqlite3.connect(self.store.path)) as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute("SELECT * FROM outbox ORDER BY id").fetchall()


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    fake = FakeTelegram()
    await fake.start()
    store = SqliteStore.open(tmp_path / "steward.db")
    clock = FakeClock(NOON)
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        repo = BotRepo(store)
        config = NotifyConfig(HOME, UTC, QuietHours(time(22), time(7)))
        notifier = Notifier(store, repo, {TELEGRAM: TelegramChannel(bot)}, config, clock=clock)
        yield Desk(fake, store, repo, clock, notifier)
    store.close()
    await fake.stop()


def unsent(store: SqliteStore) -> list[Any]:
    return [dict(r) for r in store.run("bot_outbox_due", {
        "now": float("inf"), "kinds": '["telegram"]', "home_kind": "telegram", "limit": 100})]


async def test_a_429_waits_the_time_it_was_given(desk: Desk) -> None:
    desk.answer("hello")
    desk.fake.fail_next("sendMessage", Fault(retry_after=7))
    assert await desk.notifier.drain() == 0
    desk.clock.advance(6)
    assert await desk.notifier.drain() == 0  # still inside the wait
    desk.clock.advance(1)
    assert await desk.notifier.drain() == 1
    assert desk.fake.texts() == ["hello"]


async def test_server_errors_retry_with_backoff(desk: Desk) -> None:
    desk.answer("hello")
    for _ in range(2):
        desk.fake.fail_next("sendMessage", Fault(500, "Internal Server Error", None))
    assert await desk.notifier.drain() == 0
    desk.clock.advance(1)
    assert await desk.notifier.drain() == 0  # the second failure: wait 2 s now
    desk.clock.advance(1)
    assert await desk.notifier.drain() == 0
    desk.clock.advance(1)
    assert await desk.notifier.drain() == 1
    assert desk.fake.texts() == ["hello"]
    assert unsent(desk.store) == []


async def test_a_blocked_bot_keeps_the_row_until_the_owner_is_back(desk: Desk) -> None:
    desk.answer("hello")
    desk.fake.fail_next("sendMessage", Fault(403, "Forbidden: bot was blocked by the user", None))
    assert await desk.notifier.drain() == 0
    [row] = desk.outbox()
    assert row["sent_at"] is None
    assert row["last_error"].startswith("blocked: Forbidden: bot was blocked")
    assert desk.repo.outbox_counts().blocked == 1
    desk.clock.advance(60)
    assert await desk.notifier.drain() == 0  # not hammered while blocked
    desk.notifier.owner_seen()
    assert await desk.notifier.drain() == 1
    assert desk.fake.texts() == ["hello"]
    desk.clock.advance(BLOCKED_RETRY_S)
    assert await desk.notifier.drain() == 0  # sent once, not again


async def test_bad_html_falls_back_to_plain_text_once(desk: Desk) -> None:
    desk.answer("<b>a & b</b>")
    desk.fake.fail_next("sendMessage", Fault(400, "Bad Request: can't parse entities", None))
    assert await desk.notifier.drain() == 1
    [plain] = desk.fake.sent_by("sendMessage")  # the refused call never reached the chat
    assert plain.params["text"] == "<b>a & b</b>"  # the answer's own text, as plain text
    assert "parse_mode" not in plain.params


async def test_a_message_refused_twice_is_kept_and_marked_failed(desk: Desk) -> None:
    desk.answer("hello")
    for _ in range(2):
        desk.fake.fail_next("sendMessage", Fault(400, "Bad Request: chat not found", None))
    assert await desk.notifier.drain() == 0
    [row] = desk.outbox()
    assert row["sent_at"] is None
    assert row["last_error"].lower().endswith("chat not found")
    assert desk.repo.outbox_counts().given_up == 1
    desk.clock.advance(3600)
    assert await desk.notifier.drain() == 0
    assert desk.fake.texts() == []


LONG = "\n".join(f"line {i} " + "x" * 90 for i in range(100))  # ~10,000 characters


async def test_a_long_answer_goes_in_parts(desk: Desk) -> None:
    desk.answer(LONG)
    assert await desk.notifier.drain() == 1
    parts = desk.fake.texts()
    assert len(parts) == 3
    assert all(len(p) <= 4096 for p in parts)
    assert "".join(parts) == LONG
    assert all(p.endswith("\n") for p in parts[:-1])  # cut at line ends


async def test_a_failure_between_parts_sends_only_the_rest(desk: Desk) -> None:
    desk.answer(LONG)
    desk.fake.fail_next("sendMessage", Fault(status=0, retry_after=None))  # the first part goes
    desk.fake.fail_next("sendMessage", Fault(502, "Bad Gateway", None))
    assert await desk.notifier.drain() == 0
    assert len(desk.fake.texts()) == 1
    desk.clock.advance(1)
    assert await desk.notifier.drain() == 1
    assert "".join(desk.fake.texts()) == LONG  # each part exactly once


async def test_quiet_hours_hold_background_news_but_not_answers(desk: Desk) -> None:
    desk.clock.now = datetime(2024, 5, 1, 23, 30, tzinfo=UTC).timestamp()
    desk.answer("your answer")
    desk.answer("background news", origin=Origin.RHYTHM)
    desk.store.outbox_add("alert", {"text": "the server is down", "urgent": True},
                          desk.clock(), address=HOME)
    assert await desk.notifier.drain() == 2
    assert desk.fake.texts() == ["your answer", "the server is down"]
    desk.clock.now = datetime(2024, 5, 2, 6, 59, tzinfo=UTC).timestamp()
    assert await desk.notifier.drain() == 0
    desk.clock.now = datetime(2024, 5, 2, 7, 0, tzinfo=UTC).timestamp()
    assert await desk.notifier.drain() == 1
    assert desk.fake.texts()[-1] == "background news"


async def test_a_card_refused_by_a_blocked_bot_waits_for_the_owner(tmp_path: Path) -> None:
    fake = FakeTelegram()
    await fake.start()
    engine = engine_on(tmp_path / "cards")
    clock = FakeClock(NOON)
    cards = Cards(engine.store, clock)
    try:
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            channel = TelegramChannel(bot)
            notifier = Notifier(engine.store, BotRepo(engine.store), {TELEGRAM: channel},
                                NotifyConfig(HOME, UTC), CardDesk(engine, cards, channel, HOME,
                                                                  clock), clock)
            card = cards.open("Renew the domain?", [Choice("yes", "Renew"), Choice("no", "No")])
            fake.fail_next("sendMessage", Fault(403, "Forbidden: bot was blocked", None))
            await notifier.drain()
            clock.advance(30)
            await notifier.drain()
            assert fake.texts() == []  # not tried again while blocked
            notifier.owner_seen()
            await notifier.drain()
    finally:
        engine.store.close()
        await fake.stop()
    [shown] = fake.sent_by("sendMessage")
    assert "Renew the domain?" in shown.params["text"]
    assert shown.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == (
        f"card:{card.id}:yes")
