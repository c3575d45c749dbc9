"""The Telegram bot as it runs: the PTB ``Application``, polling, its watchdog, the notifier."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram import BotCommand, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, Updater

from bot.cards_view import CardDesk
from bot.channel import TELEGRAM, telegram_address
from bot.chat import Chat
from bot.core import BotCore
from bot.errors import AppError
from bot.inbox import Inbox
from bot.notifier import Notifier, NotifyConfig
from bot.telegram.channel import TelegramChannel
from bot.telegram.config import TelegramConfig, api_urls
from bot.telegram.gate import OwnerGate
from bot.telegram.handlers import Handlers
from bot.telegram.watchdog import PollClock, StampedRequest, Watchdog

log = logging.getLogger("steward.bot")

TelegramApp = Application[Any, Any, Any, Any, Any, Any]


def build_application(config: TelegramConfig, poll: PollClock) -> TelegramApp:
    """The PTB application: updates handled concurrently, so a handler that waits never holds
    up a button tap; ``getUpdates`` through the request that stamps the watchdog's clock."""
    api, files = api_urls(config.base_url)
    return (ApplicationBuilder().token(config.token).base_url(api).base_file_url(files)
            .concurrent_updates(True)
            .get_updates_request(StampedRequest(poll, connection_pool_size=1))
            .build())


class TelegramBot:
    """Everything Telegram in the process, built from the shared core."""

    def __init__(self, core: BotCore, config: TelegramConfig, notify: NotifyConfig) -> None:
        self.config = config
        self.poll = PollClock()
        self.app = build_application(config, self.poll)
        self.channel = TelegramChannel(self.app.bot)
        home = telegram_address(config.owner_id)
        desk = CardDesk(core.engine, core.cards, self.channel, home, core.clock)
        self.notifier = Notifier(core.engine.store, core.repo, {TELEGRAM: self.channel},
                                 notify, desk, core.clock)
        self.chat = Chat(core.engine, self.channel, core.llm, on_done=self.notifier.poke)
        self.gate = OwnerGate(config.owner_id, core.repo, core.clock,
                              on_owner=self.notifier.owner_seen)
        self.commands = core.commands(poll_age=self.poll.age)
        inbox = Inbox(core.engine, core.llm, core.clock)
        Handlers(self.commands, self.chat, inbox, desk, self.channel).install(self.app, self.gate)
        self.app.post_init = self._post_init
        self.watchdog = Watchdog(self.poll, self.restart_polling, config.stall_s,
                                 config.check_every_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll, notify and watch until ``stop`` is set; then stop polling cleanly."""
        if not await self._start(stop):
            await self._stop()
            return
        tasks = [asyncio.create_task(self.notifier.run(stop), name="notifier"),
                 asyncio.create_task(self.watchdog.run(stop), name="watchdog")]
        try:
            await stop.wait()
        finally:
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._stop()

    async def _start(self, stop: asyncio.Event) -> bool:
        """Connect (retrying while Telegram is unreachable) and start polling; False if
        ``stop`` came first. A token Telegram refuses ends the process with one line."""
        while True:
            try:
                await self.app.initialize()
                break
            except InvalidToken:
                raise AppError("STEWARD_TELEGRAM_TOKEN: Telegram refused this token; check it "
                               "with @BotFather") from None
            except TelegramError as exc:
                log.warning("telegram: cannot connect (%s); trying again in %g s", exc,
                            self.config.start_retry_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.start_retry_s)
            if stop.is_set():
                return False
        await self._post_init(self.app)  # post_init runs only under run_polling: call it here
        await self.app.start()
        await self._poll()
        log.info("telegram: polling as @%s for user %d", self.app.bot.username,
                 self.config.owner_id)
        return True

    @property
    def _updater(self) -> Updater:
        if self.app.updater is None:  # only an application built without one
            raise RuntimeError("the Telegram application has no updater")
        return self.app.updater

    async def _poll(self) -> None:
        self.poll.stamp()
        await self._updater.start_polling(poll_interval=0.0,
                                             timeout=self.config.poll_timeout_s,
                                             allowed_updates=Update.ALL_TYPES)

    async def restart_polling(self) -> None:
        """Stop and start the updater's polling: what the watchdog does to a stalled poll."""
        updater = self._updater
        if updater.running:
            await updater.stop()
        await self._poll()

    async def _post_init(self, app: TelegramApp) -> None:
        """Telegram's command menu, from the command set."""
        commands = [BotCommand(name, about) for name, about in self.commands.listing()]
        try:
            await app.bot.set_my_commands(commands)
        except TelegramError as exc:  # only the menu: the commands work without it
            log.warning("telegram: could not set the command menu: %s", exc)

    async def _stop(self) -> None:
        await self.chat.close()
        updater = self.app.updater
        with contextlib.suppress(TelegramError, RuntimeError):
            if updater is not None and updater.running:
                await updater.stop()
            if self.app.running:
                await self.app.stop()
        with contextlib.suppress(TelegramError):
            await self.app.shutdown()
