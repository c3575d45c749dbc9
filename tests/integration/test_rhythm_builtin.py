"""The built-in rhythms on a real engine and SQLite file: what the briefing says, health that
speaks only on a change, the project scan, and e-mail triage against a wire-level IMAP fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.cards import Cards, Choice
from engine.inbox import Inbox
from engine.loop import Engine, EngineConfig
from engine.model import JSON, BackendName, FailureClass, JobSpec, JobState, Origin, Trust
from engine.signals import Fail
from engine.store.sqlite import SqliteStore
from engine.workers.backend import RunContext
from engine.workers.skill import SkillBackend
from rhythms.backend import RhythmSkill
from rhythms.builtin.briefing import briefing
from rhythms.builtin.checks import health, project_scan
from rhythms.builtin.email import CURSOR_KEY, email_triage
from rhythms.builtin.env import Env
from rhythms.repo import RhythmRepo
from rhythms.rhythm import Rhythm
from rhythms.scheduler import FIRE_SKILL, Desk, Scheduler, fire_key, fire_spec
from skills.email_read import ImapConfig
from tests.fakes.clock import FakeClock
from tests.fakes.imap_server import FakeImap

START = 1_750_000_000.0  # 2025-06-15
PASSWORD = "imap-secret"


async def echo(args: dict[str, JSON], ctx: RunContext) -> JSON:
    return args


async def explode(args: dict[str, JSON], ctx: RunContext) -> JSON:
    raise Fail("the build broke", FailureClass.OTHER)


@dataclass
class Rig:
    store: SqliteStore
    engine: Engine
    clock: FakeClock
    env: Env
    skills: SkillBackend

    def install(self, *rhythms: Rhythm) -> Desk:
        self.skills.register(FIRE_SKILL, RhythmSkill(RhythmRepo(self.store), list(rhythms),
                                                     self.engine.submit, self.clock))
        Scheduler(self.store, list(rhythms), "UTC", self.engine.submit, self.clock).register()
        return Desk(self.store, self.engine.submit, self.clock)

    async def run(self, desk: Desk, name: str, *, manual: bool = False) -> JSON:
        """One fire of ``name`` (scheduled unless ``manual``), run to the end."""
        self.clock.advance(60)
        if manual:
            job_id = desk.run_now(name)
        else:
            job_id = self.engine.submit(fire_spec(name, self.clock.now, manual=False, priority=3,
                                                  key=fire_key(name, self.clock.now)))
            desk.repo.add_run(name, self.clock.now, "fired", self.clock.now, job_id=job_id)
        await self.engine.run_until_idle()
        job = self.store.get_job(job_id)
        return job.result if job.state is JobState.DONE else {"error": job.error}

    def notices(self, topic: str) -> list[JSON]:
        return [r.payload for r in self.store.outbox_pending(100) if r.topic == topic]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = SqliteStore.open(tmp_path / "steward.db")
    clock = FakeClock(START)
    skills = SkillBackend({"echo": echo, "explode": explode})
    engine = Engine(store, {BackendName.SKILL: skills}, EngineConfig(data_dir=tmp_path),
                    clock=clock)
    yield Rig(store, engine, clock, Env(store, tmp_path, "UTC", clock=clock), skills)
    store.close()


async def test_the_briefing_says_what_happened_and_is_silent_when_nothing_did(rig: Rig) -> None:
    desk = rig.install(briefing(rig.env))
    assert (await rig.run(desk, "briefing"))["outcome"] == "quiet"
    rig.engine.submit(JobSpec(BackendName.SKILL, {"skill": "explode"}, name="nightly build",
                              origin=Origin.PIPELINE, max_attempts=1))
    Cards(rig.store, rig.clock).open("Renew the domain?", [Choice("yes", "Yes")])
    rig.engine.submit(JobSpec(BackendName.SKILL, {"skill": "echo"}, name="call the bank",
                              not_before=rig.clock.now + 3600))
    await rig.engine.run_until_idle()
    result = await rig.run(desk, "briefing")
    assert result["outcome"] == "acted"
    text = rig.notices("rhythm")[-1]["text"]
    assert text.startswith("Good morning. Briefing for Sunday 15 June.")
    assert "0 job(s) done, 1 failed." in text
    assert "✗ nightly build (2): the build broke" in text
    assert "Decisions waiting (1):" in text
    assert "? Renew the domain? — /card 1" in text
    assert "call the bank (3)" in text
    again = await rig.run(desk, "briefing")  # the failure is old news; the card still waits
    assert again["outcome"] == "acted"
    assert "0 job(s) done, 0 failed." in rig.notices("rhythm")[-1]["text"]
    assert (await rig.run(desk, "briefing"))["outcome"] == "unchanged"
    assert (await rig.run(desk, "briefing", manual=True))["outcome"] == "acted"


async def test_health_speaks_when_something_changes_then_recovers(rig: Rig) -> None:
    desk = rig.install(health(rig.env))
    assert (await rig.run(desk, "health"))["outcome"] == "quiet"
    RhythmRepo(rig.store).add_run("health", START - 7200, "missed", rig.clock.now, reason="down")
    found = await rig.run(desk, "health")
    assert found["importance"] == 0.9
    assert found["summary"].startswith("Health: rhythm health missed 1 slot(s) since ")
    assert (await rig.run(desk, "health"))["summary"] == "Health: all clear again."
    assert (await rig.run(desk, "health"))["outcome"] == "unchanged"


async def test_project_scan_reports_repeated_failures_and_stalled_jobs(rig: Rig) -> None:
    desk = rig.install(project_scan(rig.env))
    rig.engine.submit(JobSpec(BackendName.SKILL, {"skill": "echo", "project": "alpha"},
                              not_before=START + 10 * 86400))
    rig.clock.advance(2 * 86400)
    for _ in range(2):
        rig.engine.submit(JobSpec(BackendName.SKILL, {"skill": "explode", "project": "beta"},
                                  max_attempts=1, origin=Origin.PIPELINE))
    await rig.engine.run_until_idle()
    found = await rig.run(desk, "project-scan")
    assert found["summary"] == "Projects: alpha: 1 stalled (1) · beta: 2 failed (2, 3)"
    assert (await rig.run(desk, "project-scan"))["summary"] == "Projects: alpha: 1 stalled (1)"
    assert (await rig.run(desk, "project-scan"))["outcome"] == "unchanged"


def mail(n: int, subject: str) -> bytes:
    return (f"From: Ann <ann@example.org>\r\nTo: owner@example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <m{n}@example.org>\r\n\r\nBody {n}.\r\n").encode()


async def test_email_triage_files_new_mail_as_data_and_surfaces_the_urgent(
        rig: Rig, tmp_path: Path) -> None:
    server = FakeImap(PASSWORD)
    await server.start()
    try:
        server.append(mail(0, "old news"))
        config = ImapConfig("127.0.0.1", server.user, PASSWORD, port=server.port,
                            security="plain")
        env = Env(rig.store, tmp_path, "UTC", llm=True, clock=rig.clock)
        desk = rig.install(email_triage(env, config, Inbox(rig.engine, rig.clock)))
        first = await rig.run(desk, "email-triage")
        assert first["jobs"] == []  # mail already there is not filed: the cursor starts here
        assert rig.store.meta_get(CURSOR_KEY) == f"{server.uidvalidity}:1"
        server.append(mail(1, "Lunch?"))
        server.append(mail(2, "URGENT: sign the lease today"))
        second = await rig.run(desk, "email-triage")
        assert len(second["jobs"]) == 2
        assert second["summary"] == ("Urgent-looking e-mail from Ann <ann@example.org>: "
                                     "“URGENT: sign the lease today”")
        triage = [rig.store.get_job(i) for i in second["jobs"]]
        assert {j.trust for j in triage} == {Trust.DATA}
        assert {j.origin for j in triage} == {Origin.RHYTHM}
        assert "<data" in triage[0].payload["prompt"]
        assert (await rig.run(desk, "email-triage"))["outcome"] == "quiet"  # nothing new
        assert (await rig.run(desk, "email-triage"))["outcome"] == "unchanged"
        await server.down()
        failed = await rig.run(desk, "email-triage")
        assert "cannot reach the IMAP server 127.0.0.1:" in failed["error"]
        assert RhythmRepo(rig.store).recent(1, "email-triage")[0].outcome == "failed"
        await server.start()
        server.append(mail(3, "Back again"))
        again = await rig.run(desk, "email-triage")
        assert len(again["jobs"]) == 1
    finally:
        await server.close()


def test_without_imap_triage_is_off_and_says_why(rig: Rig) -> None:
    rhythm = email_triage(rig.env, None, None)
    assert rhythm.disabled == "IMAP is not configured"
    desk = rig.install(rhythm)
    row = desk.row("email-triage")
    assert row.disabled == "IMAP is not configured"
    assert row.next_fire_at is None
