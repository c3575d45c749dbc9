"""Crash recovery, the dead letter, cancellation, and noticing other processes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from engine import resolver
from engine.errors import DatabaseCorrupt, EngineError, StoreError
from engine.model import (
    AttemptOutcome,
    FailureClass,
    Graph,
    GroupKind,
    JobSpec,
    JobState,
    Need,
    Node,
)
from engine.model import BackendName as B
from engine.store.sqlite import SqliteStore
from tests.integration.engine_kit import Skills, make_engine, skill


def crash_while_running(tmp_path: Path, n: int) -> list[int]:
    """Leave ``n`` jobs running in the database, as a process killed mid-work does."""
    store = SqliteStore.open(tmp_path / "steward.db")
    ids = [store.insert_job(resolver.new_job(skill("echo", args={"i": i}), 1.0))[0]
           for i in range(n)]
    store.claim(ids, 2.0, 2.0 + 900)
    store.close()
    return ids


async def test_orphans_are_reclaimed_at_start_not_after_the_lease(tmp_path: Path) -> None:
    ids = crash_while_running(tmp_path, 5)
    engine = make_engine(tmp_path, Skills())
    assert engine.recover() == 5
    await engine.run_until_idle()
    for job_id in ids:
        job = engine.store.get_job(job_id)
        assert (job.state, job.recoveries, job.attempts) == (JobState.DONE, 1, 2)
        crashed, done = engine.store.attempts_of(job_id)
        assert crashed.outcome is AttemptOutcome.CRASHED
        assert crashed.failure_class is FailureClass.CRASH
        assert done.outcome is AttemptOutcome.DONE


async def test_a_job_that_keeps_dying_goes_to_the_dead_letter(tmp_path: Path) -> None:
    [job_id] = crash_while_running(tmp_path, 1)
    for _ in range(3):
        engine = make_engine(tmp_path, Skills(), max_recoveries=3)
        engine.recover()
        assert engine.store.get_job(job_id).state is JobState.READY
        engine.store.claim([job_id], 3.0, 903.0)  # ...and it dies again
        engine.store.close()
    engine = make_engine(tmp_path, Skills(), max_recoveries=3)
    engine.recover()
    job = engine.store.get_job(job_id)
    assert job.state is JobState.DEAD
    assert "died 4 times" in (job.error or "")
    assert len(engine.store.attempts_of(job_id)) == 4


async def test_cancel_requested_while_down_ends_cancelled(tmp_path: Path) -> None:
    [job_id] = crash_while_running(tmp_path, 1)
    store = SqliteStore.open(tmp_path / "steward.db")
    resolver.cancel(store, job_id, 5.0, "cancelled by the owner")
    store.close()
    engine = make_engine(tmp_path, Skills())
    engine.recover()
    assert engine.store.get_job(job_id).state is JobState.CANCELLED


async def test_cancelling_a_running_job_stops_it_and_its_dependants(tmp_path: Path) -> None:
    skills = Skills()
    engine = make_engine(tmp_path, skills)
    ids = engine.submit_graph(Graph((
        Node("a", skill("wait", args={"gate": "a"})),
        Node("b", skill("echo"), needs=(Need("a"),)),
    ), "b"))
    await engine.tick()
    await skills.began("a").wait()
    engine.cancel(ids["a"])
    await engine.run_until_idle()
    assert engine.store.get_job(ids["a"]).state is JobState.CANCELLED
    child = engine.store.get_job(ids["b"])
    assert child.state is JobState.CANCELLED
    assert child.failure_class is FailureClass.DEPENDENCY


async def test_cancelling_a_group_cancels_its_members(tmp_path: Path) -> None:
    skills = Skills()
    engine = make_engine(tmp_path, skills)
    ids = engine.submit_graph(Graph((
        Node("m0", skill("wait", args={"gate": "m"}), idx=0),
        Node("m1", skill("echo", not_before=10**10), idx=1),
        Node("g", JobSpec(B.GROUP, {}), group=GroupKind.ALL, needs=(Need("m0"), Need("m1"))),
    ), "g"))
    await engine.tick()
    await skills.began("m").wait()
    engine.cancel(ids["g"])
    await engine.run_until_idle()
    assert {engine.store.get_job(i).state for i in ids.values()} == {JobState.CANCELLED}


async def test_retrying_a_done_job_is_refused(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, Skills())
    job_id = engine.submit(skill("echo"))
    await engine.run_until_idle()
    with pytest.raises(EngineError, match="only a failed, cancelled or dead job"):
        engine.retry(job_id)


async def test_the_run_loop_wakes_on_enqueue_not_on_the_tick(tmp_path: Path) -> None:
    skills = Skills()
    engine = make_engine(tmp_path, skills, tick_s=3600)
    stop = asyncio.Event()
    runner = asyncio.create_task(engine.run(stop))
    await asyncio.sleep(0.05)
    job_id = engine.submit(skill("echo"))
    await asyncio.wait_for(engine.result(job_id), timeout=2)
    stop.set()
    await asyncio.wait_for(runner, timeout=5)


async def test_work_from_another_process_is_noticed(tmp_path: Path) -> None:
    """The CLI writes through its own connection; the loop sees it via PRAGMA data_version."""
    skills = Skills()
    engine = make_engine(tmp_path, skills, tick_s=3600)
    stop = asyncio.Event()
    runner = asyncio.create_task(engine.run(stop))
    other = SqliteStore.open(tmp_path / "steward.db")
    job_id, _ = other.insert_job(resolver.new_job(skill("wait", args={"gate": "x"}), 0.0))
    await asyncio.wait_for(skills.began("x").wait(), timeout=2)
    resolver.cancel(other, job_id, 1.0, "cancelled by the owner")
    with pytest.raises(Exception, match="cancelled"):
        await asyncio.wait_for(engine.result(job_id), timeout=2)
    other.close()
    stop.set()
    await asyncio.wait_for(runner, timeout=5)


async def test_approval_parks_and_resumes(tmp_path: Path) -> None:
    from engine.signals import NeedsApproval

    approved: list[bool] = []

    async def risky(args: dict[str, object], ctx: object) -> object:
        if not approved:
            raise NeedsApproval("send an e-mail")
        return "sent"

    engine = make_engine(tmp_path, Skills({"risky": risky}))
    job_id = engine.submit(skill("risky"))
    await engine.run_until_idle()
    job = engine.store.get_job(job_id)
    assert job.state is JobState.AWAITING_APPROVAL
    assert "send an e-mail" in (job.error or "")
    approved.append(True)
    assert engine.approve(job_id)
    await engine.run_until_idle()
    assert await engine.result(job_id) == "sent"


def test_a_corrupt_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "steward.db"
    garbage = b"this is not sqlite at all" * 100
    path.write_bytes(garbage)
    with pytest.raises(DatabaseCorrupt, match="restore it from a backup"):
        SqliteStore.open(path)
    assert path.read_bytes() == garbage


def test_an_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot be created"):
        SqliteStore.open(blocker / "data" / "steward.db")


def test_effects_ledger_round_trip(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "steward.db")
    job_id, _ = store.insert_job(resolver.new_job(skill("echo"), 1.0))
    store.effect_start("k", job_id, "ref", 1.0)
    with pytest.raises(sqlite3.IntegrityError):
        store.effect_start("k", job_id, "ref", 1.0)
    store.effect_done("k", {"sent": True}, 2.0)
    store.effect_drop("k")  # a done effect is never forgotten
    effect = store.effect_get("k")
    assert effect is not None
    assert (effect.state, effect.result) == ("done", {"sent": True})


def test_migrations_are_applied_once(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "steward.db")
    version = store.schema_version
    store.close()
    again = SqliteStore.open(tmp_path / "steward.db")
    assert again.schema_version == version >= 1


async def test_stop_is_honoured_whenever_it_lands(tmp_path: Path) -> None:
    """A stop that lands while the watcher checkpoints in its thread must still wake the loop."""
    for _ in range(15):
        engine = make_engine(tmp_path, Skills(), tick_s=3600, watch_every_s=0.001,
                             checkpoint_every_s=0.0)
        stop = asyncio.Event()
        runner = asyncio.create_task(engine.run(stop))
        await asyncio.sleep(0.005)
        stop.set()
        await asyncio.wait_for(runner, timeout=2)
        engine.store.close()
