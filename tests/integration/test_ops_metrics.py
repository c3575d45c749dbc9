"""``/metrics`` and ``/healthz`` scraped over real HTTP on loopback while a real engine works."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.health import HealthServer
from bot.metrics import Vitals
from bot.repo import BotRepo
from bot.status_view import OpsCollector
from engine.admission import Admission, Disk
from engine.gateway.breaker import Health, Phase
from engine.gateway.messages import Usage
from engine.gateway.repo import CallEnd, CallStart, GatewayRepo
from engine.loop import Engine
from engine.model import JobState
from tests.integration.engine_kit import Skills, make_engine, skill


@dataclass
class Scrape:
    """One scrape, parsed by the Prometheus client's own parser (which rejects bad text)."""

    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    def value(self, name: str, **labels: str) -> float:
        return self.samples[(name, tuple(sorted(labels.items())))]

    def total(self, name: str, **labels: str) -> float:
        return sum(v for (n, ls), v in self.samples.items()
                   if n == name and set(labels.items()) <= set(ls))


@dataclass
class Rig:
    engine: Engine
    server: HealthServer
    disk: list[float]
    ticked: list[float]

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{self.server.port}{path}") as response:
            return response.status, await response.text()

    async def scrape(self) -> Scrape:
        status, text = await self.get("/metrics")
        assert status == 200, text
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(text) for s in family.samples}
        return Scrape(samples)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    disk = [0.40]
    engine = make_engine(tmp_path, Skills(), tick_s=0.05)
    engine.admission = Admission(tmp_path, probe=lambda _: Disk(int(disk[0] * 1000), 1000),
                                 cache_s=0.0)
    ticked = [time.time()]
    collector = OpsCollector(engine.store, tmp_path, engine.admission, time.time)
    vitals = Vitals(jobs=engine.store.count_by_state, tick_age_s=lambda: time.time() - ticked[0],
                    tick_limit_s=30.0, outbox=BotRepo(engine.store).outbox_counts,
                    ops=collector.figures)
    server = HealthServer(vitals, "127.0.0.1:0")
    assert await server.start()
    try:
        yield Rig(engine, server, disk, ticked)
    finally:
        await server.stop()
        engine.store.close()


async def test_the_key_series_are_present_and_move_as_work_happens(rig: Rig) -> None:
    before = await rig.scrape()
    assert before.total("steward_jobs_by_backend") == 0
    assert before.value("steward_queue_age_seconds") == 0
    assert before.total("steward_job_attempt_seconds_count") == 0
    assert before.value("steward_disk_used_ratio") == 0.4
    assert before.value("steward_admission_refusing") == 0
    assert before.value("steward_database_bytes") > 0

    store = rig.engine.store
    ids = [rig.engine.submit(skill("echo", args={"n": n})) for n in range(6)]
    rig.engine.submit(skill("nope"))  # an unknown skill: fails at once
    await asyncio.sleep(0.02)
    waiting = await rig.scrape()
    assert waiting.value("steward_jobs_by_backend", backend="skill", state="ready") == 7
    assert waiting.value("steward_queue_age_seconds") > 0

    await rig.engine.run_until_idle()
    calls = GatewayRepo(store)
    call = calls.open_call(CallStart(ids[0], "openai", "gpt-test", "mid", 2, 0.0, time.time()))
    calls.settle(call, CallEnd(Usage(120, 30, 20), 0.0042, 80.0, "ok", None, time.time()))
    calls.save_health(Health("anthropic/claude-test", Phase.OPEN, 3, 1, time.time() + 60),
                      time.time())
    after = await rig.scrape()
    assert after.value("steward_jobs_by_backend", backend="skill", state="done") == 6
    assert after.value("steward_queue_age_seconds") == 0
    assert after.total("steward_job_attempt_seconds_count", backend="skill", outcome="done") == 6
    assert after.total("steward_job_attempt_seconds_count", outcome="failed") == 1
    assert after.value("steward_job_attempt_seconds_bucket", backend="skill", outcome="done",
                       le="+Inf") == 6
    assert after.value("steward_model_calls_total", provider="openai", model="gpt-test",
                       outcome="ok") == 1
    assert after.value("steward_model_tokens_total", provider="openai", model="gpt-test",
                       kind="input") == 120
    assert after.value("steward_model_cost_usd_total", provider="openai",
                       model="gpt-test") == pytest.approx(0.0042)
    assert after.value("steward_model_breaker_state", target="anthropic/claude-test",
                       phase="open") == 1
    assert after.value("steward_jobs", state=JobState.DONE.value) == 6


async def test_healthz_reports_a_full_disk_and_fails_when_the_loop_is_stuck(rig: Rig) -> None:
    assert await rig.get("/healthz") == (200, "ok\n")
    rig.disk[0] = 0.95
    assert await rig.get("/healthz") == (
        200, "ok (degraded: disk 95% full: new background work is refused)\n")
    assert (await rig.scrape()).value("steward_admission_refusing") == 1
    rig.ticked[0] -= 120
    status, text = await rig.get("/healthz")
    assert status == 503
    assert text.startswith("unhealthy: the engine loop has not ticked for 120 s")
