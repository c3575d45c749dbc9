"""``steward run`` and ``steward chat`` as running processes, stopped cleanly by SIGTERM/SIGINT.

The engine loop with the Telegram bot, or the console, or neither (a service); the
notifier; the health endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TextIO

from bot import rhythms_wiring
from bot.app import App, run
from bot.channel import CONSOLE
from bot.commands_memory import gateway_spend
from bot.core import BotCore
from bot.health import HealthServer
from bot.metrics import TICK_SILENCE_S, Vitals
from bot.notifier import NotifyConfig
from bot.settings import Settings
from bot.status_view import OpsCollector
from bot.telegram.config import TelegramConfig
from engine.model import BackendName
from memory.errors import MemoryFault

log = logging.getLogger("steward")

QUIET_LOGGERS = ("httpx", "httpcore", "telegram", "apscheduler")
"""Libraries whose INFO lines would repeat every poll (and httpx's carry the bot token)."""
BRIEF_LOGGERS = ("telegram.ext.Updater", "telegram.ext.Application")
"""Loggers whose handled errors (a timed-out poll at shutdown, say) would print a stack trace:
one line each is enough, and the process goes on either way."""


class OneLine(logging.Filter):
    """Replaces a record's traceback by the exception's one-line summary."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in BRIEF_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLine) for f in logger.filters):
            logger.addFilter(OneLine())


def notify_config(settings: Settings, home: str, owns_home: bool = True) -> NotifyConfig:
    return NotifyConfig(home=home, zone=settings.zone, quiet=settings.quiet_hours,
                        owns_home=owns_home)


def make_core(app: App) -> BotCore:
    """The bot's shared parts for this app: memory, and the gateway's spend when a model runs."""
    llm = BackendName.LLM in app.backends
    spend = gateway_spend(app.store, app.settings.zone) if llm else None
    return BotCore(app.engine, llm, memory=app.memory, spend_today=spend,
                   zone=app.settings.zone)


async def warm(app: App) -> None:
    """With a model, build the llm backend and open memory now, in the background (their
    imports run in threads), so the owner's first message waits for neither."""
    if app.llm is None:
        return
    await app.llm.warm()
    if app.memory is not None:
        try:
            await app.memory()
        except (MemoryFault, OSError, ValueError) as exc:
            log.warning("memory: %s", exc)


@contextlib.asynccontextmanager
async def warming(app: App) -> AsyncIterator[None]:
    """``warm`` in the background while the body runs; then memory's queued writes are
    finished (the providers' clients are closed by whoever ran the engine)."""
    task = asyncio.create_task(warm(app), name="warm")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if app.memory is not None:
            await app.memory.close()


def vitals_of(app: App, core: BotCore) -> Vitals:
    limit = max(3 * app.settings.tick_seconds, TICK_SILENCE_S)
    ops = OpsCollector(app.store, app.settings.data_dir, app.engine.admission, core.clock)
    return Vitals(jobs=app.store.count_by_state,
                  tick_age_s=lambda: core.clock() - app.engine.ticked_at,
                  tick_limit_s=limit, outbox=core.repo.outbox_counts, ops=ops.figures)


def on_signals(stop: asyncio.Event, grace_s: float) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stopping, stop, sig, grace_s)


def _stopping(stop: asyncio.Event, sig: signal.Signals, grace_s: float) -> None:
    if not stop.is_set():
        log.info("%s: stopping; running jobs get up to %g s to finish", sig.name, grace_s)
    stop.set()


async def together(stop: asyncio.Event, *parts: Coroutine[Any, Any, None]) -> None:
    """Run the parts until all end; the first to fail stops the others, then is raised."""
    tasks = [asyncio.create_task(p) for p in parts]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        if any(t.exception() for t in done if not t.cancelled()):
            stop.set()
    finally:
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result


def serve(app: App, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    """``steward run``: until SIGTERM or SIGINT (or the console's end), then stop gracefully."""
    quiet_libraries()
    asyncio.run(_serve(app, stdin, stdout))


async def _serve(app: App, stdin: TextIO, stdout: TextIO) -> None:
    stop = asyncio.Event()
    on_signals(stop, app.settings.grace_seconds)
    core = make_core(app)
    vitals = vitals_of(app, core)
    # The engine's task first: its "started:" is the process's first line.
    health = _health(vitals, app.settings.metrics_addr, stop, app.settings.allow_public_bind)
    parts = [run(app, stop), health,
             _channel(app, core, vitals, stop, stdin, stdout)]
    if app.rhythms is not None:
        parts.append(rhythms_wiring.serve(app.rhythms, stop))
    async with warming(app):
        await together(stop, *parts)


async def _health(vitals: Vitals, addr: str, stop: asyncio.Event, allow_public: bool) -> None:
    server = HealthServer(vitals, addr, allow_public=allow_public)
    if await server.start():
        try:
            await stop.wait()
        finally:
            await server.stop()


def _channel(app: App, core: BotCore, vitals: Vitals, stop: asyncio.Event, stdin: TextIO,
             stdout: TextIO) -> Coroutine[Any, Any, None]:
    """Telegram with a token; else the console on a terminal; else nothing (a service)."""
    settings = app.settings
    token, owner = settings.telegram_token, settings.trusted_user_id
    if token is not None and owner is not None:
        config = TelegramConfig(token.get_secret_value(), owner, settings.telegram_base_url)
        return _telegram(app, core, vitals, config, stop)
    if stdin.isatty():
        return _console(core, notify_config(settings, CONSOLE), stop, stdin, stdout)
    return _engine_only()


async def _console(core: BotCore, notify: NotifyConfig, stop: asyncio.Event, stdin: TextIO,
                   stdout: TextIO) -> None:
    from bot.console import run_console

    log.info("no Telegram token: the console channel is on this terminal")
    await run_console(core, notify, stop, stdin, stdout)


async def _engine_only() -> None:
    log.info("no Telegram token and no terminal: running the engine only")


async def _telegram(app: App, core: BotCore, vitals: Vitals, config: TelegramConfig,
                    stop: asyncio.Event) -> None:
    from bot.channel import telegram_address
    from bot.telegram.application import TelegramBot

    home = telegram_address(config.owner_id)
    bot = TelegramBot(core, config, notify_config(app.settings, home))
    vitals.poll_age_s, vitals.poll_limit_s = bot.poll.age, config.stall_s
    vitals.dropped, vitals.repeats = (lambda: bot.gate.drops), (lambda: bot.gate.repeats)
    vitals.restarts = lambda: bot.watchdog.restarts
    await bot.run(stop)


def chat(app: App, engine_here: bool, stdin: TextIO = sys.stdin,
         stdout: TextIO = sys.stdout) -> None:
    """``steward chat``: the console channel; the engine runs here too unless a ``steward run``
    already runs it (``engine_here`` False), in which case jobs run there."""
    quiet_libraries()
    asyncio.run(_chat(app, engine_here, stdin, stdout))


async def _chat(app: App, engine_here: bool, stdin: TextIO, stdout: TextIO) -> None:
    from bot.console import run_console

    stop = asyncio.Event()
    on_signals(stop, app.settings.grace_seconds)
    core = make_core(app)
    notify = notify_config(app.settings, CONSOLE, owns_home=engine_here)
    console = run_console(core, notify, stop, stdin, stdout)
    try:
        if engine_here:
            async with warming(app):
                await together(stop, app.engine.run(stop), console)
        else:
            await console
    finally:
        if app.memory is not None:
            await app.memory.close()
        if app.llm is not None:
            await app.llm.aclose()
