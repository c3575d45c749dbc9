"""Rhythms through the real bot and the fake Bot API: /rhythms, /pause, /resume, /briefing, and
the weekly review's chart arriving as a photo."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from engine.model import JSON
from engine.workers.backend import RunContext
from rhythms.backend import RhythmSkill
from rhythms.builtin import builtin_rhythms
from rhythms.builtin.env import Env
from rhythms.repo import RhythmRepo
from rhythms.scheduler import FIRE_SKILL, Desk, Scheduler
from tests.integration.bot_kit import OWNER, Running, running_bot, until

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@asynccontextmanager
async def bot_with_rhythms(tmp_path: Path) -> AsyncIterator[Running]:
    """The bot as ``steward run`` has it, with the built-in rhythms registered."""
    skill: list[RhythmSkill] = []

    async def fire(args: dict[str, JSON], ctx: RunContext) -> JSON:
        return await skill[0](args, ctx)

    async with running_bot(tmp_path, skills={FIRE_SKILL: fire}) as r:
        rhythms = builtin_rhythms(Env(r.store, tmp_path, "Europe/Berlin"))
        skill.append(RhythmSkill(RhythmRepo(r.store), rhythms, r.engine.submit))
        Scheduler(r.store, rhythms, "Europe/Berlin", r.engine.submit).register()
        yield r


def texts(r: Running) -> list[str]:
    return [str(s.params.get("text", "")) for s in r.fake.sent_by("sendMessage")
            if s.params.get("chat_id") == OWNER]


async def ask(r: Running, text: str, containing: str) -> str:
    r.fake.message(OWNER, text)
    await until(lambda: any(containing in t for t in texts(r)))
    return next(t for t in texts(r) if containing in t)


async def test_list_pause_resume_and_briefing_now(tmp_path: Path) -> None:
    async with bot_with_rhythms(tmp_path) as r:
        listing = await ask(r, "/rhythms", "<b>Routines</b>")
        assert "<code>briefing</code> 0 8 * * * — next " in listing
        assert "<code>email-triage</code> */30 * * * * — off: IMAP is not configured" in listing
        paused = await ask(r, "/pause Health", "Paused")
        assert paused == "Paused <code>health</code>: it will not run until /resume health."
        assert RhythmRepo(r.store).get("health").paused  # type: ignore[union-attr]
        resumed = await ask(r, "/resume health", "Resumed")
        assert resumed.startswith("Resumed <code>health</code>: next ")
        unknown = await ask(r, "/pause sleep", "no rhythm")
        assert unknown.startswith("no rhythm called 'sleep'; known: briefing, compaction")
        usage = await ask(r, "/resume", "Usage")
        assert usage.startswith("Usage: /resume NAME")
        await ask(r, "/briefing", "Preparing your briefing")
        briefing = await ask(r, "/status", "Good morning. Briefing for")
        assert "Since the last briefing: " in briefing
        assert "Routines: " in briefing
        assert "health " in briefing


async def test_the_weekly_review_arrives_with_its_chart(tmp_path: Path) -> None:
    async with bot_with_rhythms(tmp_path) as r:
        Desk(r.store, r.engine.submit).run_now("weekly-review")
        photos = await r.fake.wait_sent("sendPhoto", 1, timeout_s=20)
        review = next(t for t in texts(r) if t.startswith("Weekly review"))
    assert "Background results that notified you: no results." in review
    assert photos[0].params["chat_id"] == OWNER
    upload = photos[0].params["photo"]
    assert upload["filename"] == "weekly-review.png"
    assert upload["content"].startswith(PNG_MAGIC)
