"""Bot test kit: the real bot on a real engine and store, the fake Bot API, a stand-in model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from bot.channel import telegram_address
from bot.core import BotCore
from bot.notifier import NotifyConfig
from bot.telegram.application import TelegramBot
from bot.telegram.config import TelegramConfig
from engine.loop import Engine, EngineConfig
from engine.model import JSON, BackendName, Job, JobState
from engine.signals import NeedsApproval
from engine.store.sqlite import SqliteStore
from engine.workers.backend import Backend, RunContext
from engine.workers.skill import SkillBackend, SkillFn
from tests.fakes.telegram_server import FakeTelegram

OWNER = 4242
STRANGER = 777


@dataclass
class EchoModel:
    """An ``llm`` backend that answers "echo: <prompt>"; ``hold`` keeps it busy until set."""

    handles_timeout = False
    jobs: list[Job] = field(default_factory=list)
    hold: asyncio.Event | None = None

    async def run(self, job: Job, ctx: RunContext) -> JSON:
        self.jobs.append(job)
        if self.hold is not None:
            await self.hold.wait()
        payload = job.payload
        asked = payload["prompt"] if "prompt" in payload else payload["messages"][-1]["content"]
        return {"text": f"echo: {asked}", "model": "echo"}


class Sender:
    """A skill that asks for approval on its first attempt, then "sends" (once)."""

    def __init__(self) -> None:
        self.sent = 0

    async def __call__(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        if ctx.attempt == 1:
            raise NeedsApproval("send the e-mail to the landlord")
        self.sent += 1
        return {"sent": True}


@dataclass
class Running:
    fake: FakeTelegram
    engine: Engine
    core: BotCore
    bot: TelegramBot

    @property
    def store(self) -> SqliteStore:
        store = self.engine.store
        assert isinstance(store, SqliteStore)
        return store

    def jobs(self) -> list[Job]:
        return self.store.list_jobs(10_000)

    def job_states(self) -> dict[JobState, int]:
        return self.store.count_by_state()


async def until(condition: Callable[[], object], timeout_s: float = 5.0) -> None:
    """Wait (without blocking the loop) until ``condition()`` is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)


def engine_on(tmp_path: Path, model: Backend | None = None,
              skills: Mapping[str, SkillFn] | None = None, **config: Any) -> Engine:
    backends: dict[BackendName, Backend] = {BackendName.SKILL: SkillBackend(skills or {})}
    if model is not None:
        backends[BackendName.LLM] = model
    store = SqliteStore.open(tmp_path / "steward.db")
    return Engine(store, backends, EngineConfig(data_dir=tmp_path, **config))


@asynccontextmanager
async def running_bot(tmp_path: Path, model: Backend | None = None,
                      skills: Mapping[str, SkillFn] | None = None,
                      fake: FakeTelegram | None = None, **telegram: Any) -> AsyncIterator[Running]:
    """The whole bot as ``steward run`` starts it, polling the fake until the test ends (a
    ``fake`` given is left running, for another bot to use after this one)."""
    own = fake is None
    fake = fake or FakeTelegram()
    if own:
        await fake.start()
    engine = engine_on(tmp_path, model, skills)
    core = BotCore(engine, model is not None)
    config = TelegramConfig(fake.token, OWNER, fake.base_url, poll_timeout_s=1, **telegram)
    bot = TelegramBot(core, config, NotifyConfig(telegram_address(OWNER), UTC, poll_s=0.05))
    stop = asyncio.Event()
    tasks = [asyncio.create_task(engine.run(stop)), asyncio.create_task(bot.run(stop))]
    try:
        await until(lambda: fake.polls > 0 and fake.sent_by("setMyCommands"))
        yield Running(fake, engine, core, bot)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        engine.store.close()
        if own:
            await fake.stop()
