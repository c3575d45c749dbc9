"""The polling watchdog: a ``getUpdates`` that hangs is noticed and polling restarts."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.telegram_server import Fault
from tests.integration.bot_kit import OWNER, running_bot, until


async def test_a_stalled_poll_is_restarted(tmp_path: Path) -> None:
    async with running_bot(tmp_path, stall_s=1.0, check_every_s=0.05) as r:
        r.fake.fail_next("getUpdates", Fault(status=0, retry_after=None, stall_s=30))
        polls = r.fake.polls
        await until(lambda: r.bot.watchdog.restarts == 1, 10)
        await until(lambda: r.fake.polls > polls, 5)  # answered polls again, long before 30 s
        r.fake.message(OWNER, "/status")
        [reply] = await r.fake.wait_sent("sendMessage")
        assert reply.params["text"].startswith("<b>Status</b>")
        assert r.bot.poll.age() < 1.0
        assert r.bot.watchdog.restarts == 1


async def test_a_healthy_poll_is_left_alone(tmp_path: Path) -> None:
    async with running_bot(tmp_path, stall_s=1.5, check_every_s=0.05) as r:
        before = r.fake.polls
        await until(lambda: r.fake.polls >= before + 2, 5)  # long polls of 1 s come and go
        assert r.bot.watchdog.restarts == 0
