"""Building blocks for llm tests: the real engine, ``LlmBackend`` and ``Gateway`` (official SDKs)
on fake provider servers on 127.0.0.1, with a real SQLite store on disk."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.context import Fixed, PromptContext
from engine.errors import JobFailed
from engine.gateway.breaker import BreakerPolicy
from engine.gateway.providers.base import Provider
from engine.gateway.repo import GatewayRepo
from engine.gateway.router import Gateway, GatewayConfig
from engine.loop import Engine, EngineConfig
from engine.model import JSON, Attempt, BackendName, FailureClass, Job, JobSpec
from engine.signals import Retry
from engine.store.sqlite import SqliteStore
from engine.workers.backend import RunContext
from engine.workers.llm import LlmBackend, LlmConfig, Tool
from tests.fakes.llm_servers import (
    FakeLLM,
    Received,
    anthropic_provider,
    openai_provider,
    serving,
    table,
)

OPENAI = "openai/gpt-test"
ANTHROPIC = "anthropic/claude-test"
FAST_POLICY = BreakerPolicy(failures_to_open=3, cooldowns_s=(0.05, 0.1, 0.2), probe_lease_s=1.0,
                            rate_limit_default_s=0.05, rate_limit_cap_s=0.2)
"""Breakers that trip and heal in milliseconds, so a test never waits minutes."""
FAST_RETRIES = (0.01, 0.02, 0.05)


@dataclass
class Calls:
    """Test tools that record every run: ``add`` sums, ``note`` keeps text, ``big`` is long."""

    log: list[tuple[str, dict[str, JSON]]] = field(default_factory=list)
    flaky_failures: int = 1

    async def add(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        self.log.append(("add", args))
        return int(args["a"]) + int(args["b"])

    async def note(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        self.log.append(("note", args))
        return {"noted": args["text"]}

    async def big(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        self.log.append(("big", args))
        return "lorem ipsum dolor sit amet " * int(args["times"])

    async def flaky(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        """Asks for a retry of the whole attempt the first ``flaky_failures`` times."""
        self.log.append(("flaky", args))
        if len(self.names("flaky")) <= self.flaky_failures:
            raise Retry("flaky tool: try again", FailureClass.SERVER_ERROR)
        return "steady now"

    def tools(self) -> list[Tool]:
        number = {"type": "integer"}
        return [
            Tool("add", "Add two whole numbers.", _object({"a": number, "b": number}), self.add),
            Tool("note", "Keep a note.", _object({"text": {"type": "string"}}), self.note),
            Tool("big", "A long text.", _object({"times": number}), self.big),
            Tool("flaky", "Works the second time.", _object({}), self.flaky),
        ]

    def names(self, tool: str) -> list[dict[str, JSON]]:
        return [args for name, args in self.log if name == tool]


def _object(properties: dict[str, JSON]) -> dict[str, JSON]:
    return {"type": "object", "properties": properties, "required": sorted(properties),
            "additionalProperties": False}


@dataclass
class Rig:
    """One engine with the llm backend, running in the background until the test ends."""

    engine: Engine
    store: SqliteStore
    gateway: Gateway
    openai: FakeLLM
    anthropic: FakeLLM
    data_dir: Path
    calls: Calls

    def submit(self, payload: JSON, **options: Any) -> int:
        return self.engine.submit(JobSpec(BackendName.LLM, payload, **options))

    async def run(self, payload: JSON, **options: Any) -> Job:
        """Submit one llm job and wait until it ends (done or not)."""
        return await self.settled(self.submit(payload, **options))

    async def settled(self, job_id: int) -> Job:
        with contextlib.suppress(JobFailed):
            await asyncio.wait_for(self.engine.result(job_id), 30)
        return self.store.get_job(job_id)

    def attempts(self, job_id: int) -> list[Attempt]:
        return self.store.attempts_of(job_id)

    def requests(self) -> list[Received]:
        return sorted(self.openai.requests + self.anthropic.requests, key=lambda r: r.at)


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, tiers: Mapping[str, list[str]] | None = None, *,
              context: PromptContext | None = None, config: LlmConfig | None = None,
              spend_cap_usd: float = 100.0, extra: Iterable[tuple[str, FakeLLM]] = (),
              **engine: Any) -> AsyncIterator[Rig]:
    """The whole stack on fake servers; ``tiers`` defaults to mid = openai, then anthropic.
    ``extra`` adds OpenAI-speaking providers by name (e.g. openrouter) on other servers."""
    async with serving() as oa, serving() as an:
        providers: dict[str, Provider] = {"openai": openai_provider(oa),
                                          "anthropic": anthropic_provider(an)}
        providers.update({name: openai_provider(s, name) for name, s in extra})
        store = SqliteStore.open(tmp_path / "steward.db")
        gateway = Gateway(providers, table(dict(tiers or {"mid": [OPENAI, ANTHROPIC]})),
                          GatewayRepo(store), GatewayConfig(spend_cap_usd, policy=FAST_POLICY))
        calls = Calls()
        backend = LlmBackend(gateway, calls.tools(), None if context is None else Fixed(context),
                             config=config)
        options = {"retry_delays_s": FAST_RETRIES, "tick_s": 0.5, **engine}
        loop = Engine(store, {BackendName.LLM: backend},
                      EngineConfig(data_dir=tmp_path, **options))
        stop = asyncio.Event()
        running = asyncio.create_task(loop.run(stop))
        try:
            yield Rig(loop, store, gateway, oa, an, tmp_path, calls)
        finally:
            stop.set()
            await running
            # The engine's WAL checkpoint may still be running in a worker thread (its watcher
            # was cancelled while awaiting it): let it end before the store is closed.
            await asyncio.get_running_loop().shutdown_default_executor()
            await gateway.aclose()
            store.close()


def tool_messages(received: Received) -> list[dict[str, Any]]:
    """The tool results an OpenAI-format request carried, in order."""
    return [m for m in received.body["messages"] if m.get("role") == "tool"]


def system_text(received: Received) -> str:
    """Everything an OpenAI-format request put in system messages."""
    return "\n".join(m["content"] for m in received.body["messages"] if m["role"] == "system")
