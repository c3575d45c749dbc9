"""The engine loop on a real SQLite file: claiming, concurrency, retries, leases, shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.errors import JobFailed, StoreError
from engine.model import AttemptOutcome, FailureClass, JobState
from engine.signals import Fail, Retry
from engine.workers.backend import RunContext
from tests.fakes.clock import FakeClock
from tests.integration.engine_kit import Skills, make_engine, skill


async def test_a_job_runs_and_returns_its_result(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, Skills())
    job_id = engine.submit(skill("echo", args={"x": 1}))
    await engine.run_until_idle()
    assert await engine.result(job_id) == {"x": 1}
    [attempt] = engine.store.attempts_of(job_id)
    assert attempt.outcome is AttemptOutcome.DONE
    assert attempt.number == 1


async def test_the_same_idempotency_key_returns_the_same_job(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, Skills())
    first = engine.submit(skill("echo", idempotency_key="k1"))
    again = engine.submit(skill("echo", idempotency_key="k1", args={"other": True}))
    assert first == again
    await engine.run_until_idle()
    assert len(engine.store.list_jobs(10)) == 1


async def test_never_more_jobs_at_once_than_slots(tmp_path: Path) -> None:
    skills = Skills()
    engine = make_engine(tmp_path, skills, slots=3)
    ids = [engine.submit(skill("wait", args={"gate": "g"})) for _ in range(10)]
    await engine.tick()
    await skills.began("g").wait()
    assert engine.running == 3
    skills.gate("g").set()
    await engine.run_until_idle()
    assert skills.max_running == 3
    assert all(engine.store.get_job(i).state is JobState.DONE for i in ids)


async def test_urgent_lanes_go_first(tmp_path: Path) -> None:
    skills = Skills()
    engine = make_engine(tmp_path, skills, slots=1)
    for p in (5, 3, 0, 4, 1, 2):
        engine.submit(skill("echo", priority=p, args={"p": p}))
    await engine.run_until_idle()
    assert [args["p"] for _, args in skills.calls] == [0, 1, 2, 3, 4, 5]


async def test_a_p5_job_runs_while_urgent_work_keeps_arriving(tmp_path: Path) -> None:
    """Ageing: a low lane climbs one level per aging_s, so P0-P2 traffic cannot starve it."""
    skills, clock = Skills(), FakeClock()
    engine = make_engine(tmp_path, skills, clock, slots=1, aging_s=30)
    low = engine.submit(skill("echo", priority=5, args={"who": "low"}))
    for step in range(40):
        for p in (0, 1, 2):  # three urgent jobs arrive for every one that can run
            engine.submit(skill("echo", priority=p, args={"who": f"urgent-{step}"}))
        clock.advance(10)
        await engine.tick()
        await engine.tick()
        if engine.store.get_job(low).state is JobState.DONE:
            break
    assert engine.store.get_job(low).state is JobState.DONE
    # It outranks every urgent job that arrived more than (5 - p) * aging_s after it, so it
    # runs once the few older P1/P2 jobs are served: about 190 s here, never unbounded.
    assert step <= 25, f"the P5 job ran only after {step} rounds"
    backlog = engine.store.count_by_state()[JobState.READY]
    assert backlog > 20  # urgent work was still queued when the P5 job ran


async def test_transient_failures_retry_with_backoff_then_fail(tmp_path: Path) -> None:
    clock = FakeClock()
    calls: list[float] = []

    async def flaky(args: dict[str, object], ctx: RunContext) -> object:
        calls.append(clock())
        raise Retry("429 from provider", FailureClass.RATE_LIMIT)

    engine = make_engine(tmp_path, Skills({"flaky": flaky}), clock)
    job_id = engine.submit(skill("flaky"))
    await engine.run_until_idle()
    assert engine.store.get_job(job_id).state is JobState.WAITING
    for wait_s in (120, 600, 1800):
        clock.advance(wait_s - 1)
        await engine.run_until_idle()
        assert len(calls) == (120, 600, 1800).index(wait_s) + 1  # not yet
        clock.advance(1)
        await engine.run_until_idle()
    job = engine.store.get_job(job_id)
    assert job.state is JobState.FAILED
    assert job.failure_class is FailureClass.RATE_LIMIT
    assert [round(t - calls[0]) for t in calls] == [0, 120, 720, 2520]
    attempts = engine.store.attempts_of(job_id)
    assert [a.failure_class for a in attempts] == [FailureClass.RATE_LIMIT] * 4
    with pytest.raises(JobFailed, match="429 from provider"):
        await engine.result(job_id)


async def test_a_crashing_skill_fails_at_once_as_other(tmp_path: Path) -> None:
    async def broken(args: dict[str, object], ctx: RunContext) -> object:
        raise KeyError("surprise")

    engine = make_engine(tmp_path, Skills({"broken": broken}))
    job_id = engine.submit(skill("broken"))
    await engine.run_until_idle()
    job = engine.store.get_job(job_id)
    assert job.state is JobState.FAILED
    assert job.failure_class is FailureClass.OTHER
    assert "KeyError" in (job.error or "")


async def test_fail_signal_is_permanent_with_its_class(tmp_path: Path) -> None:
    async def refuse(args: dict[str, object], ctx: RunContext) -> object:
        raise Fail("bad arguments", FailureClass.INVALID_INPUT)

    engine = make_engine(tmp_path, Skills({"refuse": refuse}))
    job_id = engine.submit(skill("refuse"))
    await engine.run_until_idle()
    job = engine.store.get_job(job_id)
    assert (job.state, job.failure_class, job.attempts) == (
        JobState.FAILED, FailureClass.INVALID_INPUT, 1)


async def test_unknown_skill_and_missing_backend_fail_clearly(tmp_path: Path) -> None:
    from engine.model import BackendName, JobSpec

    engine = make_engine(tmp_path, Skills())
    unknown = engine.submit(skill("nope"))
    missing = engine.submit(JobSpec(BackendName.CODEX, {"prompt": "x"}))
    await engine.run_until_idle()
    assert "unknown skill 'nope'" in (engine.store.get_job(unknown).error or "")
    job = engine.store.get_job(missing)
    assert job.failure_class is FailureClass.INVALID_INPUT
    assert job.error == "no codex backend is configured here"


async def test_output_schema_gates_completion(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, Skills())
    schema = {"type": "object", "required": ["answer"]}
    bad = engine.submit(skill("echo", args={"other": 1}, output_schema=schema, max_attempts=1))
    good = engine.submit(skill("echo", args={"answer": 42}, output_schema=schema))
    await engine.run_until_idle()
    job = engine.store.get_job(bad)
    assert job.state is JobState.FAILED
    assert job.failure_class is FailureClass.OPTIMISTIC_COMPLETION
    assert "'answer' is a required property" in (job.error or "")
    assert await engine.result(good) == {"answer": 42}


async def test_a_silent_job_is_failed_as_stuck_and_retried(tmp_path: Path) -> None:
    skills, clock = Skills(), FakeClock()
    engine = make_engine(tmp_path, skills, clock, stuck_s=60)
    job_id = engine.submit(skill("wait", args={"gate": "never"}))
    await engine.tick()
    await skills.began("never").wait()
    clock.advance(59)
    await engine.tick()
    assert engine.store.get_job(job_id).state is JobState.RUNNING
    clock.advance(2)
    await engine.tick()
    await engine.run_until_idle()
    job = engine.store.get_job(job_id)
    assert job.state is JobState.WAITING  # retried after the backoff
    [attempt] = engine.store.attempts_of(job_id)
    assert attempt.failure_class is FailureClass.TIMEOUT
    assert "presumed stuck" in (
        attempt.error or "")


async def test_heartbeats_keep_a_long_job_alive(tmp_path: Path) -> None:
    skills, clock = Skills(), FakeClock()
    engine = make_engine(tmp_path, skills, clock, stuck_s=60)
    job_id = engine.submit(skill("wait", args={"gate": "g", "beat": True}))
    await engine.tick()
    await skills.began("g").wait()
    for _ in range(5):
        await asyncio.sleep(0.01)  # let the job beat at the current time
        clock.advance(50)
        await engine.tick()
    assert engine.store.get_job(job_id).state is JobState.RUNNING
    skills.gate("g").set()
    await engine.run_until_idle()
    assert engine.store.get_job(job_id).state is JobState.DONE


async def test_job_timeout_is_a_timeout_failure(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, Skills())
    job_id = engine.submit(skill("wait", args={"gate": "g"}, timeout_s=0.05, max_attempts=1))
    await engine.run_until_idle()
    job = engine.store.get_job(job_id)
    assert job.failure_class is FailureClass.TIMEOUT
    assert "timed out after 0.05 s" in (
        job.error or "")


async def test_delayed_jobs_wait_for_not_before(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = make_engine(tmp_path, Skills(), clock)
    job_id = engine.submit(skill("echo", not_before=clock() + 300))
    await engine.run_until_idle()
    assert engine.store.get_job(job_id).state is JobState.WAITING
    clock.advance(300)
    await engine.run_until_idle()
    assert engine.store.get_job(job_id).state is JobState.DONE


async def test_graceful_shutdown_finishes_or_hands_back(tmp_path: Path) -> None:
    skills = Skills()
    engine = make_engine(tmp_path, skills, grace_s=0.05)
    quick = engine.submit(skill("wait", args={"gate": "quick"}))
    slow = engine.submit(skill("wait", args={"gate": "slow"}))
    await engine.tick()
    await skills.began("slow").wait()
    skills.gate("quick").set()
    await engine.shutdown()
    assert engine.store.get_job(quick).state is JobState.DONE
    job = engine.store.get_job(slow)
    assert (job.state, job.attempts, job.recoveries) == (JobState.READY, 0, 0)
    [attempt] = engine.store.attempts_of(slow)
    assert attempt.outcome is AttemptOutcome.INTERRUPTED


async def test_owner_answer_is_written_to_the_outbox_with_the_state(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, Skills())
    job_id = engine.submit(skill("echo", args={"a": 1}, reply_to="telegram:42", name="hello"))
    silent = engine.submit(skill("echo"))
    await engine.run_until_idle()
    [row] = engine.store.outbox_pending(10)
    assert row.address == "telegram:42"
    assert row.job_id == job_id
    assert row.payload == {"job_id": job_id, "name": "hello", "state": "done",
                           "result": {"a": 1}, "error": None}
    assert engine.store.get_job(silent).state is JobState.DONE


async def test_a_result_json_cannot_carry_fails_the_job_not_the_loop(tmp_path: Path) -> None:
    async def odd(args: dict[str, object], ctx: RunContext) -> object:
        return {"when": object()}

    engine = make_engine(tmp_path, Skills({"odd": odd}))
    bad = engine.submit(skill("odd"))
    good = engine.submit(skill("echo", args={"fine": True}))
    await engine.run_until_idle()
    job = engine.store.get_job(bad)
    assert job.state is JobState.FAILED
    assert "the result is not plain JSON" in (job.error or "")
    assert await engine.result(good) == {"fine": True}


async def test_an_outcome_survives_a_refused_commit(tmp_path: Path) -> None:
    """While another process holds the write lock, finished work stays queued, not lost."""
    import sqlite3

    from engine.errors import DatabaseLocked

    skills = Skills()
    engine = make_engine(tmp_path, skills)
    job_id = engine.submit(skill("wait", args={"gate": "g"}))
    await engine.tick()
    await skills.began("g").wait()
    skills.gate("g").set()
    await asyncio.sleep(0.01)  # the task finishes; its outcome waits to be recorded
    engine.store._conn.execute("PRAGMA busy_timeout = 20")  # give up quickly on the lock
    holder = sqlite3.connect(tmp_path / "steward.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(DatabaseLocked):
        await engine.tick()
    holder.execute("ROLLBACK")
    holder.close()
    await engine.run_until_idle()
    job = engine.store.get_job(job_id)
    assert (job.state, job.attempts) == (JobState.DONE, 1)
    assert len(engine.store.attempts_of(job_id)) == 1


async def test_an_expired_lease_nobody_holds_is_taken_back(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = make_engine(tmp_path, Skills(), clock, stuck_s=60)
    job_id = engine.submit(skill("echo"))
    engine.store.claim([job_id], clock(), clock() + 60)  # marked running, but no task has it
    clock.advance(61)
    await engine.run_until_idle()
    job = engine.store.get_job(job_id)
    assert (job.state, job.recoveries) == (JobState.DONE, 1)


async def test_a_database_failure_under_a_job_is_tried_again(tmp_path: Path) -> None:
    clock = FakeClock()
    calls: list[float] = []

    async def on_a_full_disk(args: dict[str, object], ctx: RunContext) -> object:
        calls.append(clock())
        if len(calls) == 1:
            raise StoreError("database steward.db: disk I/O error")
        return {"ok": True}

    engine = make_engine(tmp_path, Skills({"disk": on_a_full_disk}), clock)
    job_id = engine.submit(skill("disk"))
    await engine.run_until_idle()
    [failed] = engine.store.attempts_of(job_id)
    assert failed.failure_class is FailureClass.CRASH
    assert "the database failed" in (failed.error or "")
    clock.advance(120)
    await engine.run_until_idle()
    assert engine.store.get_job(job_id).state is JobState.DONE
    assert len(calls) == 2
