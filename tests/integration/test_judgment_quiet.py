"""Judgment and the notifier on the fake Bot API: quiet hours hold notices and ordinary
decision cards until morning; answers, urgent notices and urgent decisions still arrive."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

from telegram import Bot

from bot.cards_view import CardDesk
from bot.channel import TELEGRAM, telegram_address
from bot.notifier import Notifier, NotifyConfig
from bot.repo import BotRepo
from bot.settings import QuietHours
from bot.telegram.channel import TelegramChannel
from engine.cards import Cards
from engine.model import Origin
from engine.rules.judgment import Verdict
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_server import FakeTelegram
from tests.integration.test_judgment import rig

HOME = telegram_address(4242)
NIGHT = datetime(2024, 5, 1, 23, 30, tzinfo=UTC).timestamp()
MORNING = datetime(2024, 5, 2, 7, 0, tzinfo=UTC).timestamp()


async def test_quiet_hours_hold_notices_but_not_answers_or_urgent_news(tmp_path: Path) -> None:
    fake = FakeTelegram()
    await fake.start()
    clock = FakeClock(NIGHT)
    try:
        with rig(tmp_path, clock) as r:
            async with Bot(fake.token, base_url=fake.base_url) as bot:
                channel = TelegramChannel(bot)
                desk = CardDesk(r.engine, Cards(r.store, clock), channel, HOME, clock)
                notifier = Notifier(r.store, BotRepo(r.store), {TELEGRAM: channel},
                                    NotifyConfig(HOME, UTC, QuietHours(time(22), time(7))),
                                    desk, clock)
                judged = [
                    await r.run("your answer", "run", origin=Origin.OWNER, reply_to=HOME),
                    await r.run({"importance": 0.9, "summary": "Disk 91% full"}, "health"),
                    await r.run({"urgent": True, "summary": "The server is down"}, "uptime"),
                    await r.run({"decision": {"question": "Restart the server now?",
                                              "urgent": True}}, "uptime-fix"),
                    await r.run({"decision": {"question": "Renew example.org?"}}, "domains"),
                ]
                assert [j.verdict for j in judged] == [
                    Verdict.NOTIFY, Verdict.NOTIFY, Verdict.NOTIFY, Verdict.DECIDE,
                    Verdict.DECIDE]
                await notifier.drain()
                night = fake.texts()
                clock.now = MORNING - 60
                await notifier.drain()
                assert fake.texts() == night, "nothing more before the quiet hours end"
                clock.now = MORNING
                await notifier.drain()
                morning = fake.texts()[len(night):]
    finally:
        await fake.stop()
    assert len(night) == 3
    assert "your answer" in night
    assert "The server is down" in night
    assert any("Restart the server now?" in t and "(urgent)" in t for t in night)
    assert len(morning) == 2
    assert "Disk 91% full" in morning
    assert any("Renew example.org?" in t for t in morning)
