"""The ``skill`` backend: a registry of in-process async callables, run by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from engine.model import JSON, FailureClass, Job
from engine.signals import Fail
from engine.workers.backend import RunContext

SkillFn = Callable[[dict[str, JSON], RunContext], Awaitable[JSON]]


class SkillBackend:
    """Runs ``{"skill": NAME, "args": {...}}`` payloads on the registered callables."""

    handles_timeout = False

    def __init__(self, skills: Mapping[str, SkillFn] | None = None) -> None:
        self._skills: dict[str, SkillFn] = dict(skills or {})

    def register(self, name: str, fn: SkillFn) -> None:
        if name in self._skills:
            raise ValueError(f"skill {name!r} is already registered")
        self._skills[name] = fn

    @property
    def names(self) -> list[str]:
        return sorted(self._skills)

    async def run(self, job: Job, ctx: RunContext) -> JSON:
        name = job.payload.get("skill")
        args = job.payload.get("args", {})
        if not isinstance(name, str) or name not in self._skills:
            known = ", ".join(self.names) or "none"
            raise Fail(f"unknown skill {name!r}; registered: {known}", FailureClass.INVALID_INPUT)
        if not isinstance(args, dict):
            raise Fail("skill args must be a JSON object", FailureClass.INVALID_INPUT)
        return await self._skills[name](args, ctx)
