"""Self-heal on the real llm stack (official SDKs, fake servers on loopback), and incidents."""

from __future__ import annotations

import time
from pathlib import Path

from engine.cards import Cards
from engine.model import FailureClass, JobState, Origin
from engine.rules.cards import Tap
from engine.selfheal import Incidents, SelfHealer, fixed
from tests.fakes.llm_servers import Reply
from tests.integration.engine_kit import Skills, make_engine, skill
from tests.integration.llm_kit import ANTHROPIC, OPENAI, rig

SCHEMA = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "integer"}}}
ADVICE = "Answer with exactly one JSON object such as {\"answer\": 42} and no prose."


async def test_malformed_output_gets_one_diagnosis_by_another_provider_and_one_retry(
        tmp_path: Path) -> None:
    async with rig(tmp_path, {"mid": [OPENAI], "reasoning": [ANTHROPIC]}) as r:
        healer = SelfHealer(r.store, fixed(r.gateway), r.engine.retry, Cards(r.store, time.time))
        failed = await r.run({"prompt": "What is six times seven?"}, output_schema=SCHEMA,
                             max_attempts=2, origin=Origin.RHYTHM)
        assert (failed.state, failed.failure_class) == (
            JobState.FAILED, FailureClass.OPTIMISTIC_COMPLETION)
        asked_before = len(r.openai.requests)
        r.anthropic.push(Reply(ADVICE))
        r.openai.push(Reply('{"answer": 42}'))

        assert await healer.heal_pass() == 1
        healed = await r.settled(failed.id)
        assert await healer.heal_pass() == 0  # settles the row; nothing more to heal

        assert (healed.state, healed.result) == (JobState.DONE, {"answer": 42})
        assert len(r.anthropic.requests) == 1  # the diagnosis, by the other provider
        diagnosis = r.anthropic.requests[0].body["messages"][-1]["content"]
        assert "optimistic_completion" in str(diagnosis)
        retry = r.openai.requests[asked_before]
        system = " ".join(str(m["content"]) for m in retry.body["messages"]
                          if m["role"] == "system")
        assert f"Advice from a reviewing model: {ADVICE}" in system
        [row] = r.store.run("ops_heal_list", {"limit": 5})
        assert (row["state"], row["model"], row["diagnosis"]) == (
            "healed", ANTHROPIC, ADVICE)
        outcomes = sorted(a.outcome.value for a in r.attempts(failed.id))
        assert outcomes == ["done", "failed", "failed"]


async def test_a_healed_job_that_fails_again_is_never_healed_twice(tmp_path: Path) -> None:
    async with rig(tmp_path, {"mid": [OPENAI], "reasoning": [ANTHROPIC]}) as r:
        healer = SelfHealer(r.store, fixed(r.gateway), r.engine.retry)
        failed = await r.run({"prompt": "Give me a number"}, output_schema=SCHEMA,
                             max_attempts=1)
        r.anthropic.push(Reply(ADVICE))
        assert await healer.heal_pass() == 1
        again = await r.settled(failed.id)
        assert (again.state, again.max_attempts) == (JobState.FAILED, 1)
        assert await healer.heal_pass() == 0
        assert len(r.anthropic.requests) == 1
        [row] = r.store.run("ops_heal_list", {"limit": 5})
        assert row["state"] == "failed_again"
        assert Incidents(r.store).heal_counts() == {"failed_again": 1}


async def test_no_other_provider_means_no_self_heal(tmp_path: Path) -> None:
    async with rig(tmp_path, {"mid": [OPENAI]}) as r:
        healer = SelfHealer(r.store, fixed(r.gateway), r.engine.retry)
        failed = await r.run({"prompt": "Give me a number"}, output_schema=SCHEMA,
                             max_attempts=1)
        assert await healer.heal_pass() == 0
        [row] = r.store.run("ops_heal_list", {"limit": 5})
        assert (row["state"], row["note"]) == (
            "skipped", "no model of another provider to diagnose it")
        assert r.store.get_job(failed.id).state is JobState.FAILED


async def test_recurring_failures_with_one_signature_become_one_incident(
        tmp_path: Path) -> None:
    engine = make_engine(tmp_path, Skills())
    clock = time.time
    cards = Cards(engine.store, clock)
    healer = SelfHealer(engine.store, fixed(None), engine.retry, cards)
    incidents = Incidents(engine.store)

    async def fail(n: int, args: object = None) -> None:
        """``n`` jobs of an unknown skill, or (``args`` given) echo jobs with bad arguments."""
        for _ in range(n):
            spec = skill("nope") if args is None else skill("echo", args=args)
            engine.submit(spec)
        await engine.run_until_idle()
        await healer.heal_pass()

    await fail(2)
    assert [i.count for i in incidents.listing()] == [2]
    assert cards.pending() == []  # not yet recurring enough to ask the owner
    await fail(3)
    await fail(1, args="not an object")
    [other, incident] = incidents.listing()  # the most recent first
    assert (incident.count, other.count) == (5, 1)
    assert incident.signature == "skill|invalid_input|unknown skill <text>; registered: echo, wait"
    [card] = cards.pending()
    assert card.id == incident.card_id
    assert "incident" in card.question
    assert incidents.open_count() == 1

    engine.resolve_card(cards, Tap(card.id, "ack"))
    assert [i.id for i in incidents.listing()] == [other.id]
    await fail(1)
    fresh = [i for i in incidents.listing() if i.id not in (incident.id, other.id)]
    assert [i.count for i in fresh] == [1]
    assert incidents.ack(other.id) is not None
    assert incidents.ack(999) is None
    engine.store.close()
