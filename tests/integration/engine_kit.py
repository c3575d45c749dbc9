"""Building blocks for engine tests: a real store on disk, the skill backend, test skills."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.loop import Engine, EngineConfig
from engine.model import JSON, BackendName, JobSpec
from engine.store.sqlite import SqliteStore
from engine.workers.backend import RunContext
from engine.workers.skill import SkillBackend, SkillFn
from tests.fakes.clock import FakeClock


@dataclass
class Skills:
    """Skills whose behaviour the test steers; they record every call."""

    extra: dict[str, SkillFn] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, JSON]]] = field(default_factory=list)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    started: dict[str, asyncio.Event] = field(default_factory=dict)
    running_now: int = 0
    max_running: int = 0

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    def began(self, name: str) -> asyncio.Event:
        return self.started.setdefault(name, asyncio.Event())

    async def echo(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        self.calls.append(("echo", args))
        return args

    async def wait(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        """Block until the test opens the gate named in args["gate"]."""
        name = str(args["gate"])
        self.calls.append(("wait", args))
        self.running_now += 1
        self.max_running = max(self.max_running, self.running_now)
        self.began(name).set()
        try:
            if args.get("beat"):
                while not self.gate(name).is_set():
                    ctx.heartbeat()
                    await asyncio.sleep(0.001)
            await self.gate(name).wait()
        finally:
            self.running_now -= 1
        return {"gate": name}

    def backend(self) -> SkillBackend:
        return SkillBackend({"echo": self.echo, "wait": self.wait, **self.extra})


def make_engine(tmp_path: Path, skills: Skills, clock: FakeClock | None = None,
                **config: Any) -> Engine:
    store = SqliteStore.open(tmp_path / "steward.db")
    cfg = EngineConfig(data_dir=tmp_path, **config)
    kwargs = {"clock": clock} if clock is not None else {}
    return Engine(store, {BackendName.SKILL: skills.backend()}, cfg, **kwargs)


def skill(skill_name: str, priority: int = 2, **kwargs: Any) -> JobSpec:
    args = kwargs.pop("args", {})
    return JobSpec(BackendName.SKILL, {"skill": skill_name, "args": args}, priority=priority,
                   **kwargs)
