"""A simulated busy week through the real engine: routines fire on their schedules with results
that are mostly unchanged or minor and now and then important; at most ~5% of background results
notify, the important ones among them, and every owner request is answered."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from engine.model import JSON, Origin
from engine.rules.judgment import Kind, Verdict
from tests.fakes.clock import FakeClock
from tests.integration.test_judgment import START, Rig, rig

STEP_S = 1800.0
WEEK_STEPS = 7 * 48
HOME = "telegram:4242"


@dataclass
class World:
    """The state the routines look at, drifting slowly; ``important`` counts what must notify."""

    rng: random.Random
    disk_pct: int = 82
    scan_state: int = 0
    important: list[str] = field(default_factory=list)

    def health(self) -> JSON:
        summary = f"disk {self.disk_pct}% used"
        if self.rng.random() < 0.08:
            self.disk_pct += 1
            summary = f"disk {self.disk_pct}% used"
            if self.disk_pct == 90:
                self.important.append(summary)
        return {"summary": summary, "fingerprint": f"disk:{self.disk_pct}",
                "importance": 0.9 if self.disk_pct == 90 else 0.3 if self.disk_pct > 90 else 0.2,
                "checked_at": self.rng.random()}

    def triage(self, step: int) -> JSON:
        roll = self.rng.random()
        if roll < 0.75:
            return {"changed": False, "summary": "no new mail"}
        if roll < 0.985:
            return {"importance": round(self.rng.uniform(0.05, 0.6), 2),
                    "summary": f"{self.rng.randint(1, 4)} new mails filed ({step})"}
        self.important.append(f"urgent mail {step}")
        return {"urgent": True, "summary": f"urgent mail {step}: the landlord needs an answer"}

    def scan(self) -> JSON:
        if self.rng.random() < 0.2:
            self.scan_state += 1
        return {"importance": 0.4, "fingerprint": f"scan:{self.scan_state}",
                "summary": f"projects: {self.scan_state} stalled job(s)"}


def fire(r: Rig, world: World, step: int) -> None:
    """Submit what is due at ``step`` (half hours since midnight of the first day)."""
    hour, half = divmod(step % 48, 2)
    r.submit(world.triage(step), "triage")
    if half == 0:
        r.submit(world.health(), "health")
    if half == 0 and hour in (9, 17):
        r.submit(world.scan(), "project-scan")
    if half == 0 and hour == 8:
        r.submit({"importance": 1.0, "summary": f"Good morning: briefing {step}"}, "briefing")
        world.important.append("briefing")
    if half == 0 and hour == 21:
        r.submit({"importance": 0.1, "summary": "memory: merged 3 notes"}, "memory")
    if half == 0 and hour == 3:
        r.submit({"importance": 0.0, "summary": "compacted sessions"}, "compaction")
        if step // 48 in (3, 4):
            r.fail(f"backup target unreachable after {step} s")
            world.important.append("backup")
        else:
            r.submit({"importance": 0.0, "summary": "backup written"}, "backup")
    if hour == 12 and half == 1:
        r.submit({"page": f"version {step // 96}"}, "web-watch")  # no hints: the gate
    if world.rng.random() < 0.12:
        r.submit(f"answer to request {step}", "run", origin=Origin.OWNER, reply_to=HOME)


async def test_a_busy_week_notifies_rarely_and_answers_every_request(tmp_path: Path) -> None:
    clock = FakeClock(START)
    world = World(random.Random(6))
    with rig(tmp_path, clock) as r:
        for step in range(WEEK_STEPS):
            fire(r, world, step)
            await r.engine.run_until_idle()
            clock.advance(STEP_S)
        rate = r.judgments.notify_rate(START)
        found = r.judgments.recent(10_000)
        answers = r.outbox("job_finished")
        notices = r.outbox("notice")
    requests = [j for j in found if j.kind is Kind.REQUEST]
    results = [j for j in found if j.kind is Kind.RESULT]
    assert requests, "the week had owner requests"
    assert sorted(a.job_id for a in answers) == sorted(j.job_id for j in requests)
    assert {j.verdict for j in requests} == {Verdict.NOTIFY}
    assert len(results) == rate.results > 500
    assert rate.rate is not None
    assert rate.rate <= 0.05, f"{rate.notified} of {rate.results} notified"
    assert rate.notified == len(notices) == len(world.important) - 1, (
        "each important event notifies once; the repeated backup failure goes to the digest")
    texts = {n.payload["text"] for n in notices}
    assert "disk 90% used" in texts
    assert sum(t.startswith("urgent mail") for t in texts) == sum(
        e.startswith("urgent mail") for e in world.important)
    verdicts = {v: sum(j.verdict is v for j in results) for v in Verdict}
    assert verdicts[Verdict.SILENT] > verdicts[Verdict.DIGEST] > verdicts[Verdict.NOTIFY]
    assert verdicts[Verdict.PENDING] == 0, "every gate job settled"
