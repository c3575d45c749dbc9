"""Building blocks for skill tests: the real engine with the built-in registry on the skill
backend, the real shell backend, a real SQLite store, and helpers to answer decision cards."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.cards import Card
from engine.loop import Engine, EngineConfig
from engine.model import JSON, BackendName, Job, JobSpec, JobState, Trust
from engine.rules.cards import Tap
from engine.store.sqlite import SqliteStore
from engine.workers.backend import Backend, Effects, RunContext
from engine.workers.shell import ShellBackend
from skills.catalog import builtin_registry
from skills.engine_link import EngineLink
from skills.phone import AdbConfig
from skills.registry import Registry
from skills.skill import Skill
from skills.web import WebConfig, WebFetcher

FAST_RETRIES = (0.01, 0.02, 0.05)
FAR_FUTURE = 4e9


@dataclass
class SkillRig:
    engine: Engine
    store: SqliteStore
    link: EngineLink
    registry: Registry
    data_dir: Path
    workspace: Path
    home: Path

    def submit(self, skill: str, args: JSON, trust: Trust = Trust.COMMAND, **kw: Any) -> int:
        return self.engine.submit(JobSpec(BackendName.SKILL, {"skill": skill, "args": args},
                                          trust=trust, **kw))

    async def run(self, skill: str, args: JSON, trust: Trust = Trust.COMMAND,
                  **kw: Any) -> Job:
        """Submit one skill job and step the engine until nothing can move."""
        job_id = self.submit(skill, args, trust, **kw)
        await self.engine.run_until_idle()
        return self.store.get_job(job_id)

    def jobs(self, backend: BackendName | None = None) -> list[Job]:
        found = self.store.list_jobs(1000)
        return [j for j in found if backend is None or j.backend is backend]

    def cards(self) -> list[Card]:
        """Every decision card opened for any job."""
        return [c for j in self.jobs() for c in self.link.cards_of(j.id)]

    async def tap(self, card_id: int, choice: str) -> None:
        self.engine.resolve_card(self.link.cards, Tap(card_id, choice))
        await self.engine.run_until_idle()

    def caller(self, trust: Trust) -> Job:
        """A job standing for a model's conversation: stored, never claimed (not yet due)."""
        job_id = self.engine.submit(JobSpec(BackendName.LLM, {"prompt": "summarise this"},
                                            trust=trust, not_before=FAR_FUTURE, name="summary"))
        return self.store.get_job(job_id)

    async def call(self, caller: Job, tool: str, args: dict[str, JSON]) -> JSON:
        """A model's tool call inside ``caller``, through the registry's llm adapter."""
        [found] = self.registry.llm_tools([tool])
        ctx = RunContext(caller, 1, self.data_dir, Effects(self.store, lambda: 0.0),
                         lambda: None, lambda: False)
        return await found.run(args, ctx)

    def parked(self) -> list[Job]:
        return [j for j in self.jobs() if j.state is JobState.AWAITING_APPROVAL]


async def until(check: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Wait until ``check()`` is truthy, looking every 20 ms: for states another task reaches
    (a command running) that no event announces."""
    async with asyncio.timeout(timeout_s):
        for _ in itertools.count():
            if check():
                return
            await asyncio.sleep(0.02)


def shell_backend(workspace: Path, home: Path, **options: Any) -> ShellBackend:
    """The real shell backend with a made-up HOME: nothing a test runs can reach the real one."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    return ShellBackend(workspace, kill_grace_s=0.5, environ=env, **options)


@contextlib.contextmanager
def skill_rig(tmp_path: Path, *, web: WebConfig | WebFetcher | None = None,
              adb: AdbConfig | None = None, shell_options: Mapping[str, Any] | None = None,
              backends: Mapping[BackendName, Backend] | None = None,
              extra: Iterable[Skill] = (), **engine: Any) -> Iterator[SkillRig]:
    data_dir = tmp_path / "data"
    workspace = data_dir / "workspace"
    home = tmp_path / "home"
    for folder in (workspace, home):
        folder.mkdir(parents=True, exist_ok=True)
    store = SqliteStore.open(data_dir / "steward.db")
    link = EngineLink()
    registry = builtin_registry(link, data_dir, web=web, adb=adb, extra=extra)
    all_backends: dict[BackendName, Backend] = {
        BackendName.SKILL: registry.skill_backend(),
        BackendName.SHELL: shell_backend(workspace, home, **dict(shell_options or {})),
        **dict(backends or {})}
    options = {"retry_delays_s": FAST_RETRIES, "tick_s": 0.5, **engine}
    loop = Engine(store, all_backends, EngineConfig(data_dir=data_dir, **options))
    link.bind(loop)
    try:
        yield SkillRig(loop, store, link, registry, data_dir, workspace, home)
    finally:
        store.close()
