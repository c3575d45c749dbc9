"""Rhythms from the settings: the built-in definitions, their skills on the skill backend, the
scheduler, and the desk the commands use. ``install`` runs in ``build`` (every engine can run a
fire job); ``serve`` is the scheduler's part of ``steward run``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.errors import AppError
from bot.mail_wiring import imap_config
from bot.settings import Settings
from engine import resolver
from engine.inbox import Inbox
from engine.loop import Engine
from engine.model import BackendName, JobSpec
from engine.rules import validate
from engine.store.base import Store
from engine.workers.backend import Backend
from engine.workers.skill import SkillBackend
from rhythms.backend import RhythmSkill
from rhythms.builtin import builtin_rhythms
from rhythms.builtin.env import Env
from rhythms.builtin.memory import MemorySource, SummariserFor, memory_skills
from rhythms.errors import ScheduleError
from rhythms.repo import RhythmRepo
from rhythms.rhythm import Rhythm
from rhythms.scheduler import FIRE_SKILL, Desk, Scheduler, Submit

if TYPE_CHECKING:
    from bot.models import LazyLlm
    from memory.compaction import Summariser


@dataclass
class Rhythms:
    """The process's rhythms: ``scheduler.run(stop)`` fires them; ``desk`` for commands."""

    scheduler: Scheduler
    desk: Desk
    definitions: list[Rhythm]


def definitions(settings: Settings, store: Store, engine: Engine, *, llm: bool,
                can_summarise: bool, extra: Sequence[Rhythm] = ()) -> list[Rhythm]:
    """The built-in rhythms for these settings (e-mail triage only with IMAP configured)."""
    env = Env(store, settings.data_dir, settings.timezone, llm=llm)
    return builtin_rhythms(env, imap=imap_config(settings), inbox=Inbox(engine, time.time),
                           can_summarise=can_summarise, extra=extra)


def install(settings: Settings, store: Store, backends: dict[BackendName, Backend],
            engine: Engine, memory: MemorySource | None, llm: LazyLlm | None,
            extra: Sequence[Rhythm] = ()) -> Rhythms:
    """Build the rhythms and register their skills (``rhythm`` and memory's) on the skill
    backend; a bad schedule stops the start with one line."""
    skill = backends.get(BackendName.SKILL)
    if not isinstance(skill, SkillBackend):
        raise AppError("rhythms need the skill backend, and none is configured")
    found = definitions(settings, store, engine, llm=llm is not None,
                        can_summarise=llm is not None, extra=extra)
    try:
        scheduler = Scheduler(store, found, settings.timezone, engine.submit)
    except ScheduleError as exc:
        raise AppError(str(exc)) from None
    skill.register(FIRE_SKILL, RhythmSkill(RhythmRepo(store), found, engine.submit))
    if memory is not None:
        for name, fn in memory_skills(memory, summariser_for(llm)).items():
            skill.register(name, fn)
    return Rhythms(scheduler, Desk(store, engine.submit), found)


def summariser_for(llm: LazyLlm | None) -> SummariserFor | None:
    """Compaction's summariser on the gateway (built with the ``llm`` backend), or None."""
    if llm is None:
        return None

    def make(job_id: int) -> Summariser:
        async def summarise(text: str) -> Any:
            from memory.compaction import GatewaySummariser

            await llm.ready()
            gateway = llm.gateway
            if gateway is None:
                raise AppError("no model provider could be connected")
            return await GatewaySummariser(gateway, job_id=job_id)(text)

        return summarise

    return make


def serve(rhythms: Rhythms, stop: asyncio.Event) -> Coroutine[Any, Any, None]:
    """The scheduler's part of ``steward run``: fires due rhythms until ``stop``."""
    return rhythms.scheduler.run(stop)


def store_submit(store: Store, clock: Callable[[], float] = time.time) -> Submit:
    """Submit straight into the store, for the command line (a running ``steward run`` notices
    the new job within 0.2 s)."""
    def submit(spec: JobSpec) -> int:
        validate.spec(spec)
        with store.transaction():
            job_id, _ = store.insert_job(resolver.new_job(spec, clock()))
        return job_id

    return submit

