"""Diagnostic skills: ``echo`` hands back its arguments, ``sleep`` waits while heartbeating."""

from __future__ import annotations

import asyncio
import math

from engine.model import JSON, FailureClass
from engine.signals import Fail
from engine.workers.backend import RunContext
from engine.workers.skill import SkillFn
from security.risk import Risk
from skills.skill import Skill, schema

MAX_SLEEP_S = 3600.0


async def echo(args: dict[str, JSON], ctx: RunContext) -> JSON:
    """Return ``args`` unchanged: proves a job travels through the engine and back."""
    return args


async def sleep(args: dict[str, JSON], ctx: RunContext) -> JSON:
    """Wait ``seconds`` (0 to an hour), heartbeating every second; returns ``{"slept_s": n}``."""
    seconds = args.get("seconds", 1)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) \
            or not math.isfinite(seconds) or not 0 <= seconds <= MAX_SLEEP_S:
        raise Fail(f"seconds must be a number from 0 to {MAX_SLEEP_S:g}, not {seconds!r}",
                   FailureClass.INVALID_INPUT)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        await asyncio.sleep(min(left, 1.0))
        ctx.heartbeat()
    return {"slept_s": seconds}


SKILLS: dict[str, SkillFn] = {"echo": echo, "sleep": sleep}
"""The diagnostic skills by name, for the skill backend's registry."""


DIAGNOSTIC = [
    Skill("echo", "Hand back the arguments unchanged.", {"type": "object"}, Risk.LOW, echo),
    Skill("sleep", "Wait a number of seconds (0 to an hour), then answer.",
          schema({"seconds": {"type": "number"}}),  # the range is checked by ``sleep``
          Risk.LOW, sleep),
]
"""The diagnostic skills for the registry."""
