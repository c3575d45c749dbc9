"""A simulated week of every built-in rhythm on the real engine, gateway (official SDK against a
fake provider on 127.0.0.1), IMAP (a wire-level fake), memory and judgment, with a clock the
simulation moves: an idle week costs zero model calls; a busy one answers every owner request
and notifies for few background results. ``bench/rhythms.py`` runs the same simulation."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager, closing
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from engine.gateway.messages import Message, Request
from engine.gateway.repo import GatewayRepo
from engine.gateway.router import Gateway, GatewayConfig
from engine.inbox import Inbox
from engine.judgment import Judgments
from engine.judgment_gate import JudgmentGate
from engine.loop import Engine, EngineConfig
from engine.model import JSON, BackendName, FailureClass, JobSpec, Origin
from engine.rules.judgment import GATE_SKILL
from engine.signals import Fail
from engine.store.sqlite import SqliteStore
from engine.workers.backend import RunContext
from engine.workers.llm import LlmBackend
from engine.workers.skill import SkillBackend
from memory.compaction import COMPACT_AT_CHARS, GatewaySummariser
from memory.working import SESSIONS_DIR, WorkingMemory
from rhythms.backend import RhythmSkill
from rhythms.builtin import builtin_rhythms
from rhythms.builtin.env import Env
from rhythms.builtin.memory import memory_skills
from rhythms.repo import RhythmRepo
from rhythms.rhythm import Decision, Rhythm, RunInfo
from rhythms.scheduler import FIRE_SKILL, Scheduler
from skills.email_read import ImapConfig
from tests.fakes.clock import FakeClock
from tests.fakes.imap_server import FakeImap
from tests.fakes.llm_servers import FakeLLM, openai_provider, serving, table

os.environ.setdefault("LANCEDB_LOG", "error")  # as the process sets it: no Rust warnings
TZ = "Europe/Berlin"
START = datetime(2025, 6, 2, 0, 0, tzinfo=ZoneInfo(TZ)).timestamp()  # a Monday
DAY = 86_400.0
PASSWORD = "imap-secret"
OWNER_ASKS = 8
MAILS = 20
PROJECT_JOBS = 12


@dataclass
class DayFigures:
    model_calls: int = 0
    tokens: int = 0
    fires: int = 0


@dataclass
class Week:
    """What a simulated week did."""

    days: list[DayFigures] = field(default_factory=list)
    owner_asked: int = 0
    owner_answered: int = 0
    background_results: int = 0
    background_notified: int = 0
    judged_results: int = 0

    @property
    def notify_rate(self) -> float:
        return self.background_notified / self.background_results if self.background_results \
            else 0.0

    @property
    def model_calls(self) -> int:
        return sum(d.model_calls for d in self.days)


@dataclass
class Sim:
    store: SqliteStore
    engine: Engine
    scheduler: Scheduler
    clock: FakeClock
    llm: FakeLLM
    imap: FakeImap
    data_dir: Path
    events: list[tuple[float, Callable[[], None]]] = field(default_factory=list)
    asked: int = 0

    async def until(self, end: float) -> None:
        """Move the clock from due moment to due moment (rhythm slots, delayed jobs, events)
        up to ``end``, firing and running everything on the way."""
        while True:
            upcoming = [t for t in (self.scheduler.repo.next_due(), self.store.next_wakeup(),
                                    self.events[0][0] if self.events else None)
                        if t is not None]
            step = max(min([*upcoming, end]), self.clock.now)
            self.clock.now = step
            while self.events and self.events[0][0] <= step:
                self.events.pop(0)[1]()
            self.scheduler.fire_due()
            await self.engine.run_until_idle()
            if step >= end:
                return

    def at(self, when: float, action: Callable[[], None]) -> None:
        self.events.append((when, action))
        self.events.sort(key=lambda e: e[0])


def mail(n: int, urgent: bool) -> bytes:
    subject = f"URGENT: invoice {n} overdue" if urgent else f"Newsletter {n}"
    return (f"From: Sender {n} <s{n}@example.org>\r\nTo: owner@example.org\r\n"
            f"Subject: {subject}\r\nMessage-ID: <m{n}@example.org>\r\n"
            f"Date: Mon, 2 Jun 2025 09:00:00 +0200\r\n\r\nHello, message {n}.\r\n").encode()


def submit(sim: Sim, spec: JobSpec) -> None:
    sim.engine.submit(spec)


def busy_day(sim: Sim, day: int) -> None:
    """Owner requests, e-mail, project jobs (one failing) and a growing working session."""
    start = START + day * DAY
    for i in range(OWNER_ASKS):
        def ask(i: int = i) -> None:
            sim.asked += 1
            sim.engine.submit(JobSpec(BackendName.LLM, {"prompt": f"question {day}.{i}"},
                                      origin=Origin.OWNER, reply_to="console", priority=1,
                                      idempotency_key=f"req:console:{day}:{i}"))
        sim.at(start + 9 * 3600 + i * 5400, ask)
    for i in range(MAILS):
        n = day * MAILS + i
        sim.at(start + 7 * 3600 + i * 2400, lambda n=n: sim.imap.append(mail(n, n % MAILS == 5)))
    for i in range(PROJECT_JOBS):
        skill = "explode" if i == 6 else "echo"
        spec = JobSpec(BackendName.SKILL, {"skill": skill, "args": {"n": i},
                                           "project": "beta" if i == 6 else "alpha"},
                       origin=Origin.PIPELINE, name=f"{skill} {i}", max_attempts=1)
        sim.at(start + 10 * 3600 + i * 3000, lambda spec=spec: submit(sim, spec))
    if day % 2 == 1:
        def grow() -> None:
            session = WorkingMemory(sim.data_dir / SESSIONS_DIR, sim.clock).session(f"s{day}")
            session.checkpoint("notes " * (COMPACT_AT_CHARS // 5), f"day {day}")
        sim.at(start + 20 * 3600, grow)


async def echo(args: dict[str, JSON], ctx: RunContext) -> JSON:
    return args


async def explode(args: dict[str, JSON], ctx: RunContext) -> JSON:
    raise Fail("the build broke", FailureClass.OTHER)


def naive(rhythm: Rhythm, gateway: Gateway) -> Rhythm:
    """The baseline: every fire asks a model whether anything needs doing."""
    async def gather(run: RunInfo) -> JSON:
        return {"slot": run.slot, "facts": await rhythm.gather(run)}

    async def decide(facts: JSON, previous: JSON, run: RunInfo) -> Decision:
        await gateway.complete(Request(
            tier="cheap", max_tokens=50, job_id=run.job_id, messages=(Message.user(
                "Anything to report? " + json.dumps(facts["facts"])[:4000]),)))
        before = previous.get("facts") if isinstance(previous, dict) else None
        return await rhythm.decide(facts["facts"], before, run)

    return replace(rhythm, gather=gather, decide=decide)


@asynccontextmanager
async def simulation(folder: Path, *, baseline: bool = False) -> AsyncIterator[Sim]:
    async with AsyncExitStack() as stack:
        llm = await stack.enter_async_context(serving(reply_text="Noted."))
        imap = FakeImap(PASSWORD)
        await imap.start()
        stack.push_async_callback(imap.close)
        store = SqliteStore.open(folder / "steward.db")
        stack.callback(store.close)
        clock = FakeClock(START)
        gateway = Gateway({"openai": openai_provider(llm)}, table({"mid": ["openai/gpt-test"]}),
                          GatewayRepo(store), GatewayConfig(1000.0))
        stack.push_async_callback(gateway.aclose)
        skills = SkillBackend({"echo": echo, "explode": explode})
        engine = Engine(store, {BackendName.SKILL: skills,
                                BackendName.LLM: LlmBackend(gateway)},
                        EngineConfig(data_dir=folder), clock=clock)
        skills.register(GATE_SKILL, JudgmentGate(store, gateway, clock))
        env = Env(store, folder, TZ, llm=True, clock=clock)
        config = ImapConfig("127.0.0.1", imap.user, PASSWORD, port=imap.port, security="plain")
        rhythms = builtin_rhythms(env, imap=config, inbox=Inbox(engine, clock),
                                  can_summarise=True)
        if baseline:
            rhythms = [naive(r, gateway) for r in rhythms]
        skills.register(FIRE_SKILL, RhythmSkill(RhythmRepo(store), rhythms, engine.submit, clock))
        memory = await stack.enter_async_context(opened_memory(store, folder, clock))
        for name, fn in memory_skills(memory, lambda job_id: GatewaySummariser(
                gateway, job_id=job_id)).items():
            skills.register(name, fn)
        scheduler = Scheduler(store, rhythms, TZ, engine.submit, clock)
        scheduler.register()
        yield Sim(store, engine, scheduler, clock, llm, imap, folder)


@asynccontextmanager
async def opened_memory(store: SqliteStore, folder: Path, clock: FakeClock
                        ) -> AsyncIterator[Callable[[], Coroutine[Any, Any, Any]]]:
    """Memory opened on first use, as the process does: core file, LanceDB, sessions."""
    parts: list[Any] = []

    @dataclass
    class Parts:
        core: Any
        archival: Any
        working: WorkingMemory

    async def source() -> Any:
        if not parts:
            from memory.archival import ArchivalMemory
            from memory.core import CoreMemory
            from memory.embeddings import OnnxMiniLM

            parts.append(Parts(CoreMemory.open(folder / "core_memory.md", store),
                               ArchivalMemory(store, OnnxMiniLM(), folder / "lancedb"),
                               WorkingMemory(folder / SESSIONS_DIR, clock)))
        return parts[0]

    try:
        yield source
    finally:
        if parts:
            await parts[0].archival.close()


async def simulate(folder: Path, days: int, *, busy: bool, baseline: bool = False) -> Week:
    """Run ``days`` simulated days and measure them."""
    week = Week()
    async with simulation(folder, baseline=baseline) as sim:
        for day in range(days):
            if busy:
                busy_day(sim, day)
            calls, last_call, fires = len(sim.llm.requests), _last_call(sim), _fires(sim)
            await sim.until(START + (day + 1) * DAY)
            week.days.append(DayFigures(len(sim.llm.requests) - calls,
                                        _tokens(sim, last_call), _fires(sim) - fires))
        week.owner_asked = sim.asked
        _judged(sim, week)
    return week


def _rows(sim: Sim, sql: str, *args: Any) -> list[sqlite3.Row]:
    with closing(sqlite3.connect(sim.store.path)) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, args).fetchall()


def _last_call(sim: Sim) -> int:
    return int(_rows(sim, "SELECT COALESCE(MAX(id), 0) FROM model_calls")[0][0])


def _tokens(sim: Sim, after: int) -> int:
    return int(_rows(sim, "SELECT COALESCE(SUM(input_tokens + output_tokens), 0) "
                          "FROM model_calls WHERE id > ?", after)[0][0])


def _fires(sim: Sim) -> int:
    return int(_rows(sim, "SELECT COUNT(*) FROM rhythm_runs WHERE job_id IS NOT NULL")[0][0])


def _judged(sim: Sim, week: Week) -> None:
    """The owner's answers, and the background notify rate. A rhythm fire with nothing to
    report (judged silent) is plumbing, not a result: it is left out of the rate; fires that
    reported something count like any other result."""
    week.owner_answered = int(_rows(
        sim, "SELECT COUNT(*) FROM outbox o JOIN jobs j ON j.id = o.job_id "
             "WHERE o.topic = 'job_finished' AND j.origin = 'owner' AND j.state = 'done'")[0][0])
    rate = Judgments(sim.store, sim.clock).notify_rate(START, sim.clock.now)
    week.judged_results = rate.results
    rows = _rows(sim, "SELECT j.verdict, j.name, j.summary FROM judgments j "
                      "WHERE j.kind = 'result'")
    plumbing = [r for r in rows
                if (r["name"] or "").startswith("rhythm ") and r["verdict"] == "silent"]
    week.background_results = len(rows) - len(plumbing)
    week.background_notified = sum(r["verdict"] == "notify" for r in rows)


async def test_an_idle_week_makes_no_model_call(tmp_path: Path) -> None:
    week = await simulate(tmp_path, 7, busy=False)
    assert [d.model_calls for d in week.days] == [0] * 7
    assert all(d.fires >= 70 for d in week.days)  # every rhythm fired on its schedule
    assert week.background_notified == 0


async def test_a_busy_week_answers_the_owner_and_rarely_notifies(tmp_path: Path) -> None:
    week = await simulate(tmp_path, 7, busy=True)
    assert week.owner_asked == 7 * OWNER_ASKS
    assert week.owner_answered == week.owner_asked
    assert week.model_calls > week.owner_asked  # triage, the judge's gate, compaction
    assert week.background_results >= 7 * (MAILS + PROJECT_JOBS)
    assert week.notify_rate <= 0.06, (week.background_notified, week.background_results)
