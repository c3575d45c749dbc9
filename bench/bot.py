"""Bot benchmark: update→reply latency of a local command (no model) through the fake Bot API."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from pathlib import Path

# Run as ``python bench/bot.py``, this file's folder comes first on sys.path and its name would
# shadow the ``bot`` package: drop the folder, and put the repository root (for the fake Bot API
# in ``tests/fakes``) in its place.
ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Update  # noqa: E402
from telegram.ext import Application, ContextTypes, MessageHandler, filters  # noqa: E402

from bot.channel import telegram_address  # noqa: E402
from bot.core import BotCore  # noqa: E402
from bot.notifier import NotifyConfig  # noqa: E402
from bot.telegram.application import TelegramBot  # noqa: E402
from bot.telegram.config import TelegramConfig  # noqa: E402
from engine.loop import Engine, EngineConfig  # noqa: E402
from engine.model import BackendName  # noqa: E402
from engine.store.sqlite import SqliteStore  # noqa: E402
from engine.workers.skill import SkillBackend  # noqa: E402
from tests.fakes.telegram_server import FakeTelegram  # noqa: E402

OWNER = 4242
WARMUP = 20
SAMPLES = 300
COMMAND = "/status"
TARGET_P50_MS = 30.0


async def measure(fake: FakeTelegram, text: str, samples: int) -> list[float]:
    """Milliseconds from pushing an update to the fake until the bot's reply reached it."""
    latencies = []
    for _ in range(samples):
        count = len(fake.sent_by("sendMessage"))
        start = time.time()
        fake.message(OWNER, text)
        sent = await fake.wait_sent("sendMessage", count + 1, timeout_s=10)
        latencies.append((sent[count].at - start) * 1000)
    return latencies


async def steward_bot(fake: FakeTelegram, data: Path) -> Callable[[], Awaitable[list[float]]]:
    """The real bot (gate, dedupe, commands over SQLite) as ``steward run`` builds it."""
    store = SqliteStore.open(data / "steward.db")
    engine = Engine(store, {BackendName.SKILL: SkillBackend({})}, EngineConfig(data_dir=data))
    bot = TelegramBot(BotCore(engine, llm=False), TelegramConfig(fake.token, OWNER,
                                                                 fake.base_url),
                      NotifyConfig(telegram_address(OWNER), UTC))
    stop = asyncio.Event()
    tasks = [asyncio.create_task(engine.run(stop)), asyncio.create_task(bot.run(stop))]
    await fake.wait_sent("setMyCommands", timeout_s=30)

    async def run() -> list[float]:
        try:
            await measure(fake, COMMAND, WARMUP)
            return await measure(fake, COMMAND, SAMPLES)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            store.close()

    return run


async def bare_ptb(fake: FakeTelegram) -> list[float]:
    """Baseline: a bare python-telegram-bot application answering "ok", on the same fake."""
    async def ok(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message is not None:
            await update.effective_message.reply_text("ok")

    app = (Application.builder().token(fake.token).base_url(fake.base_url)
           .concurrent_updates(True).build())
    app.add_handler(MessageHandler(filters.COMMAND, ok))
    async with app:
        await app.start()
        if app.updater is None:
            raise RuntimeError("the baseline application has no updater")
        await app.updater.start_polling(poll_interval=0.0, timeout=10)
        await measure(fake, COMMAND, WARMUP)
        found = await measure(fake, COMMAND, SAMPLES)
        await app.updater.stop()
        await app.stop()
    return found


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def main() -> dict[str, float]:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeTelegram()
        await fake.start()
        try:
            baseline = await bare_ptb(fake)
            fake.sent.clear()
            ours = await (await steward_bot(fake, Path(tmp)))()
        finally:
            await fake.stop()
    return {"reply_latency_p50_ms": round(statistics.median(ours), 2),
            "reply_latency_p99_ms": round(p(ours, 99), 2),
            "baseline_ptb_p50_ms": round(statistics.median(baseline), 2),
            "baseline_ptb_p99_ms": round(p(baseline, 99), 2)}


def report(figures: dict[str, float]) -> None:
    print(f"update → reply latency of {COMMAND} through the fake Bot API on 127.0.0.1, "
          f"{SAMPLES} samples after {WARMUP} warm-ups\n")
    print(f"{'figure':<34}{'value':>10}  target")
    rows = [("steward p50 (ms)", figures["reply_latency_p50_ms"], f"≤ {TARGET_P50_MS:g}"),
            ("steward p99 (ms)", figures["reply_latency_p99_ms"], "-"),
            ("baseline: bare PTB p50 (ms)", figures["baseline_ptb_p50_ms"], "-"),
            ("baseline: bare PTB p99 (ms)", figures["baseline_ptb_p99_ms"], "-")]
    for name, value, target in rows:
        print(f"{name:<34}{value:>10.2f}  {target}")
    print("\nThe baseline is a python-telegram-bot application that answers every command "
          "with \"ok\": no gate, no dedupe, no database; the difference is Steward's own cost.")
    print(json.dumps(figures))


if __name__ == "__main__":
    report(asyncio.run(main()))
