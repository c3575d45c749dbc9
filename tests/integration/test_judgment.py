"""The judgment layer through the real engine on real SQLite: every finished job classified,
owner answers untouched, background results filtered, the digest and the notify rate kept."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.gateway.router import Gateway
from engine.judgment import GATE_PER_HOUR, Judgment, Judgments
from engine.judgment_gate import Connect, GateConfig, JudgmentGate
from engine.loop import Engine, EngineConfig
from engine.model import JSON, BackendName, FailureClass, Graph, JobSpec, Need, Node, Origin
from engine.rules.judgment import GATE_SKILL, Kind, Verdict, gate_key
from engine.signals import Fail
from engine.store.records import OutboxRow
from engine.store.sqlite import SqliteStore
from engine.workers.backend import RunContext
from engine.workers.skill import SkillBackend
from tests.fakes.clock import FakeClock

HOME = "telegram:4242"
START = 1_717_200_000.0  # 2024-06-01 00:00 UTC


async def report(args: dict[str, JSON], ctx: RunContext) -> JSON:
    """A background job's result, exactly as the test gives it."""
    return args.get("result")


async def broken(args: dict[str, JSON], ctx: RunContext) -> JSON:
    raise Fail(str(args["error"]), FailureClass.OTHER)


@dataclass
class Rig:
    engine: Engine
    store: SqliteStore
    clock: FakeClock
    judgments: Judgments
    gateway: Gateway | None = None

    def submit(self, result: JSON, name: str | None = "health", **options: Any) -> int:
        options.setdefault("origin", Origin.RHYTHM)
        return self.engine.submit(JobSpec(BackendName.SKILL, {"skill": "report",
                                                              "args": {"result": result}},
                                          name=name, **options))

    def fail(self, error: str, name: str = "backup", **options: Any) -> int:
        options.setdefault("origin", Origin.RHYTHM)
        return self.engine.submit(JobSpec(BackendName.SKILL, {"skill": "broken",
                                                              "args": {"error": error}},
                                          name=name, max_attempts=1, **options))

    async def run(self, result: JSON, name: str | None = "health", **options: Any) -> Judgment:
        job_id = self.submit(result, name, **options)
        await self.engine.run_until_idle()
        return self.of(job_id)

    def of(self, job_id: int) -> Judgment:
        found = self.judgments.of(job_id)
        assert found is not None, f"job {job_id} was not judged"
        return found

    def outbox(self, topic: str | None = None) -> list[OutboxRow]:
        rows = self.store.outbox_pending(1000)
        return [r for r in rows if topic is None or r.topic == topic]


@contextmanager
def rig(tmp_path: Path, clock: FakeClock | None = None, *, gate: bool = True,
        gateway: Callable[[SqliteStore], Gateway] | None = None,
        gate_config: GateConfig | None = None, connect: Connect | None = None
        ) -> Iterator[Rig]:
    """The engine with the test skills, and (``gate``) the model gate, on one SQLite file;
    ``gateway`` makes the gate's gateway on that store (None: no model configured)."""
    clock = clock or FakeClock(START)
    store = SqliteStore.open(tmp_path / "steward.db")
    skills = SkillBackend({"report": report, "broken": broken})
    made = None if gateway is None else gateway(store)
    if gate:
        skills.register(GATE_SKILL, JudgmentGate(store, made, clock, gate_config,
                                                 connect=connect))
    engine = Engine(store, {BackendName.SKILL: skills}, EngineConfig(data_dir=tmp_path),
                    clock=clock)
    try:
        yield Rig(engine, store, clock, Judgments(store, clock), made)
    finally:
        store.close()


async def test_owner_requests_are_answered_as_before(tmp_path: Path) -> None:
    with rig(tmp_path) as r:
        asked = await r.run({"importance": 0.0, "changed": False}, "run",
                            origin=Origin.OWNER, reply_to=HOME)
        keyed = await r.run("from a message", None, origin=Origin.SYSTEM,
                            idempotency_key="req:telegram:4242:9", reply_to=HOME)
        cli = await r.run("from the command line", None, origin=Origin.OWNER)
        failed = r.fail("no such file", origin=Origin.OWNER, reply_to=HOME)
        await r.engine.run_until_idle()
        for found in (asked, keyed, cli, r.of(failed)):
            assert (found.kind, found.verdict, found.reason) == (
                Kind.REQUEST, Verdict.NOTIFY, "owner request")
        answers = r.outbox("job_finished")
        assert [a.job_id for a in answers] == [asked.job_id, keyed.job_id, failed]
        assert answers[-1].payload["error"] == "no such file"
        assert r.outbox("notice") == [], "an answer is sent once, by the resolver"


async def test_background_results_are_silent_digest_notify_or_decide(tmp_path: Path) -> None:
    with rig(tmp_path) as r:
        minor = await r.run({"importance": 0.1, "summary": "1 spam filtered"}, "triage")
        middling = await r.run({"importance": 0.5, "summary": "2 newsletters"}, "scan")
        important = await r.run({"importance": 0.9, "summary": "Disk 91% full"}, "health")
        urgent = await r.run({"urgent": True, "summary": "The server is down"}, "uptime")
        asking = await r.run({"decision": {"question": "Renew example.org for 12 €?",
                                           "choices": ["yes", "no"], "urgent": True}}, "domains")
        assert [j.verdict for j in (minor, middling, important, urgent, asking)] == [
            Verdict.SILENT, Verdict.DIGEST, Verdict.NOTIFY, Verdict.NOTIFY, Verdict.DECIDE]
        assert {j.kind for j in (minor, middling, important, urgent, asking)} == {Kind.RESULT}
        assert important.reason == "importance 0.9 ≥ 0.8"
        notices = r.outbox("notice")
        assert [(n.job_id, n.address, n.payload["text"], n.payload["urgent"]) for n in notices] == [
            (important.job_id, None, "Disk 91% full", False),
            (urgent.job_id, None, "The server is down", True)]
        [card] = r.engine.store.run("cards_open")
        assert card["id"] == asking.card_id
        assert (card["question"], card["urgent"], card["job_id"]) == (
            "Renew example.org for 12 €?", 1, asking.job_id)
        assert [d.job_id for d in r.judgments.digest_since(START)] == [middling.job_id]


async def test_unchanged_and_duplicate_results_stay_silent_across_a_restart(
        tmp_path: Path) -> None:
    clock = FakeClock(START)
    with rig(tmp_path, clock) as r:
        first = await r.run({"importance": 0.9, "summary": "Disk 91% full", "at": 1}, "health")
        assert first.verdict is Verdict.NOTIFY
        same = await r.run({"importance": 0.9, "summary": "Disk 91% full", "at": 1}, "health")
        assert (same.verdict, same.reason) == (Verdict.SILENT, "unchanged since the previous run")
    clock.advance(3600)
    with rig(tmp_path, clock) as r:
        again = await r.run({"importance": 0.9, "summary": "Disk 91% full", "at": 1}, "health")
        assert (again.verdict, again.reason) == (Verdict.SILENT,
                                                 "unchanged since the previous run")
        moved = await r.run({"importance": 0.9, "summary": "disk 91%  FULL", "at": 2}, "health")
        assert (moved.verdict, moved.reason) == (
            Verdict.SILENT, "the same report went out in the last 24 h")
        elsewhere = await r.run({"importance": 0.9, "summary": "Disk 91% full"}, "other-host")
        assert elsewhere.verdict is Verdict.SILENT
        clock.advance(86_400)
        later = await r.run({"importance": 0.9, "summary": "Disk 91% full", "at": 3}, "health")
        assert later.verdict is Verdict.NOTIFY, "a day later it is news again"
        assert [n.job_id for n in r.outbox("notice")] == [first.job_id, later.job_id]


async def test_a_fingerprint_hint_and_changed_flag_decide_what_is_new(tmp_path: Path) -> None:
    with rig(tmp_path) as r:
        a = await r.run({"importance": 0.5, "fingerprint": "inbox:3", "checked_at": 1}, "mail")
        b = await r.run({"importance": 0.5, "fingerprint": "inbox:3", "checked_at": 2}, "mail")
        c = await r.run({"importance": 0.5, "fingerprint": "inbox:3", "changed": True}, "mail")
        d = await r.run({"importance": 0.9, "changed": False}, "mail")
        assert [x.verdict for x in (a, b, c, d)] == [
            Verdict.DIGEST, Verdict.SILENT, Verdict.DIGEST, Verdict.SILENT]
        assert d.reason == "the result says nothing changed"


async def test_failures_notify_once_then_go_to_the_digest(tmp_path: Path) -> None:
    with rig(tmp_path) as r:
        ids = [r.fail("disk error 42"), r.fail("disk error 43"), r.fail("quota", name="sync")]
        await r.engine.run_until_idle()
        first, repeat, other = (r.of(i) for i in ids)
        assert (first.verdict, first.reason) == (Verdict.NOTIFY, "failed for good")
        assert (repeat.verdict, repeat.reason) == (
            Verdict.DIGEST, "the same failure as one in the last 24 h")
        assert other.verdict is Verdict.NOTIFY
        assert [n.payload["text"] for n in r.outbox("notice")] == [
            "backup failed: disk error 42", "sync failed: quota"]
        [recurring] = r.judgments.recurring_failures(START - 1)
        assert (recurring.name, recurring.count, recurring.last_job_id) == ("backup", 2, ids[1])


async def test_steps_consequences_and_cancellations_are_silent(tmp_path: Path) -> None:
    def node(key: str, skill: str, args: dict[str, JSON], *needs: str) -> Node:
        spec = JobSpec(BackendName.SKILL, {"skill": skill, "args": args}, name=key,
                       origin=Origin.PIPELINE, max_attempts=1)
        return Node(key, spec, needs=tuple(Need(n) for n in needs))

    with rig(tmp_path) as r:
        ok = r.engine.submit_graph(Graph((
            node("fetch", "report", {"result": {"importance": 0.9}}),
            node("sum", "report", {"result": {"importance": 0.5, "summary": "sum"}}, "fetch"),
        ), "sum"))
        bad = r.engine.submit_graph(Graph((
            node("pull", "broken", {"error": "refused"}),
            node("merge", "report", {"result": {"importance": 0.9}}, "pull"),
        ), "merge"))
        later = r.submit({"importance": 0.9}, "later", not_before=START + 3600)
        r.engine.cancel(later)
        await r.engine.run_until_idle()
        fetch, summed = r.of(ok["fetch"]), r.of(ok["sum"])
        pull, merge, cancelled = r.of(bad["pull"]), r.of(bad["merge"]), r.of(later)
        assert (fetch.verdict, fetch.kind) == (Verdict.SILENT, Kind.INTERNAL)
        assert fetch.reason == "a step whose result feeds the jobs after it"
        assert summed.verdict is Verdict.DIGEST
        assert pull.verdict is Verdict.NOTIFY, "the failure at the root is reported"
        assert (merge.verdict, merge.kind, merge.reason) == (
            Verdict.SILENT, Kind.INTERNAL, "not run: a job it needs ended badly")
        assert (cancelled.verdict, cancelled.reason) == (Verdict.SILENT, "cancelled")


async def test_undecided_results_fall_to_the_digest_without_a_model(tmp_path: Path) -> None:
    with rig(tmp_path) as r:
        found = await r.run({"rows": 3}, "scan")
        assert (found.verdict, found.reason) == (Verdict.DIGEST,
                                                 "no model is configured for the gate")
        gate = r.engine.store.run("judgment_get", {"job_id": found.job_id + 1})[0]
        assert (gate["kind"], gate["verdict"]) == ("internal", "silent")
        assert r.outbox() == []


async def test_a_gate_that_cannot_run_still_fails_closed(tmp_path: Path) -> None:
    with rig(tmp_path, gate=False) as r:
        found = await r.run({"rows": 3}, "scan")
        assert found.verdict is Verdict.DIGEST
        assert found.reason.startswith("the model gate gave no verdict (failed: unknown skill")
        [gate] = [j for j in r.engine.store.list_jobs(10)
                  if j.idempotency_key == gate_key(found.job_id)]
        assert gate.origin is Origin.SYSTEM
        assert r.outbox() == []


async def test_the_gate_has_an_hourly_budget(tmp_path: Path) -> None:
    with rig(tmp_path) as r:
        first = [r.submit({"page": i}, f"watch-{i}") for i in range(GATE_PER_HOUR + 2)]
        await r.engine.run_until_idle()
        r.clock.advance(3600)
        later = await r.run({"page": "new"}, "watch-0")
        reasons = [r.of(i).reason for i in first]
    assert reasons.count("no model is configured for the gate") == GATE_PER_HOUR
    assert reasons[GATE_PER_HOUR:] == [
        f"the model gate's budget of {GATE_PER_HOUR} an hour is spent"] * 2
    assert later.reason == "no model is configured for the gate", "an hour later it asks again"


async def test_a_job_run_again_is_judged_again(tmp_path: Path) -> None:
    with rig(tmp_path) as r:
        job_id = r.fail("flaky", name="scan")
        await r.engine.run_until_idle()
        assert r.of(job_id).verdict is Verdict.NOTIFY
        r.clock.advance(60)
        r.engine.retry(job_id)
        await r.engine.run_until_idle()
        again = r.of(job_id)
        assert (again.verdict, again.judged_at) == (Verdict.NOTIFY, START + 60), (
            "a retry is the owner's: its own earlier failure is not a repeat")
        assert len(r.outbox("notice")) == 2


async def test_the_gate_runs_at_most_once_per_job(tmp_path: Path) -> None:
    with rig(tmp_path) as r:
        job_id = r.submit({"rows": 3}, "scan", not_before=START + 60)
        taken = r.submit("not a gate", None, origin=Origin.SYSTEM,
                         idempotency_key=gate_key(job_id))
        await r.engine.run_until_idle()
        r.clock.advance(60)
        await r.engine.run_until_idle()
        found = r.of(job_id)
        assert (found.verdict, found.reason) == (Verdict.DIGEST,
                                                 "judged by the model gate once already")
        assert r.of(taken).reason == "the model gate's own job"


async def test_the_digest_is_taken_once_and_the_rate_counts_results(tmp_path: Path) -> None:
    clock = FakeClock(START)
    with rig(tmp_path, clock) as r:
        for i in range(8):
            await r.run({"importance": 0.1, "n": i}, "triage")
        await r.run({"importance": 0.9, "summary": "Disk 91% full"}, "health")
        await r.run({"importance": 0.5, "summary": "2 newsletters"}, "scan")
        await r.run("answer", "run", origin=Origin.OWNER, reply_to=HOME)
        clock.advance(3600)
        await r.run({"importance": 0.5, "summary": "a new invoice"}, "mail")
        taken = r.judgments.take_digest()
        assert [t.summary for t in taken] == ["2 newsletters", "a new invoice"]
        assert r.judgments.take_digest() == []
        assert len(r.judgments.digest_since(START)) == 2, "still readable once taken"
        assert [t.summary for t in r.judgments.digest_since(START + 1800)] == ["a new invoice"]
        rate = r.judgments.notify_rate(START)
        assert (rate.notified, rate.decided, rate.results) == (1, 0, 11)
        assert r.judgments.notify_rate(START + 1800).results == 1
