"""The ``Store`` contract, run against every implementation (today: ``SqliteStore``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import JobNotFound
from engine.model import BackendName, JobSpec, JobState
from engine.resolver import new_job
from engine.store.base import Store
from engine.store.sqlite import SqliteStore


@pytest.fixture(params=["sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = SqliteStore.open(tmp_path / "steward.db")
    yield opened
    opened.close()


def spec(**kw: object) -> JobSpec:
    return JobSpec(BackendName.SKILL, {"skill": "echo"}, **kw)  # type: ignore[arg-type]


def add(store: Store, now: float = 10.0, **kw: object) -> int:
    return store.insert_job(new_job(spec(**kw), now))[0]


def test_insert_and_get(store: Store) -> None:
    job_id = add(store, priority=4, name="n")
    job = store.get_job(job_id)
    assert (job.state, job.priority, job.name, job.payload) == (
        JobState.READY, 4, "n", {"skill": "echo"})
    with pytest.raises(JobNotFound):
        store.get_job(job_id + 100)


def test_idempotency_key_is_unique(store: Store) -> None:
    first, created = store.insert_job(new_job(spec(idempotency_key="k"), 1.0))
    again, created_again = store.insert_job(new_job(spec(idempotency_key="k"), 2.0))
    assert first == again
    assert (created, created_again) == (True, False)


def test_bulk_insert_returns_the_new_ids_in_order(store: Store) -> None:
    add(store)
    ids = store.insert_jobs([new_job(spec(priority=p % 6), 1.0) for p in range(50)])
    assert [store.get_job(i).priority for i in ids] == [p % 6 for p in range(50)]


def test_claim_takes_only_ready_jobs_once(store: Store, tmp_path: Path) -> None:
    a, b = add(store), add(store, not_before=99.0)
    other = SqliteStore.open(tmp_path / "steward.db")
    won = store.claim([a, b], 20.0, 920.0)
    lost = other.claim([a, b], 20.0, 920.0)
    other.close()
    assert [j.id for j in won] == [a]
    assert lost == []
    job = store.get_job(a)
    assert (job.state, job.attempts, job.started_at) == (JobState.RUNNING, 1, 20.0)


def test_candidates_come_from_every_lane(store: Store) -> None:
    for p in range(6):
        for _ in range(3):
            add(store, priority=p)
    cands = store.candidates(per_lane=2)
    assert sorted(c.priority for c in cands) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_promote_due_and_next_wakeup(store: Store) -> None:
    later = add(store, not_before=50.0)
    assert store.next_wakeup() == 50.0
    with store.transaction():
        assert store.promote_due(49.0) == 0
        assert store.promote_due(50.0) == 1
    assert store.get_job(later).state is JobState.READY


def test_leases_expire_unless_extended(store: Store) -> None:
    a, b = add(store), add(store)
    store.claim([a, b], 0.0, 100.0)
    store.extend_leases({a: 500.0})
    assert [j.id for j in store.expired_leases(200.0)] == [b]
    assert store.next_wakeup() == 100.0


def _add_two_then_fail(store: Store) -> None:
    with store.transaction():
        add(store)
        with store.transaction():  # nested use joins the outer transaction
            add(store)
        raise RuntimeError


def test_transaction_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError):
        _add_two_then_fail(store)
    assert store.list_jobs(10) == []


def test_outbox_dedupes_and_tracks_delivery(store: Store) -> None:
    store.outbox_add("t", {"n": 1}, 1.0, address="a", dedupe_key="d")
    store.outbox_add("t", {"n": 2}, 1.0, address="a", dedupe_key="d")
    [row] = store.outbox_pending(10)
    assert row.payload == {"n": 1}
    store.outbox_mark_failed(row.id, "timed out")
    store.outbox_mark_sent(row.id, 2.0)
    assert store.outbox_pending(10) == []


def test_meta(store: Store) -> None:
    assert store.meta_get("x") is None
    store.meta_set("x", "1")
    store.meta_set("x", "2")
    assert store.meta_get("x") == "2"


def test_list_jobs_filters_and_sorts(store: Store) -> None:
    ids = [add(store, priority=p) for p in (3, 0, 5)]
    assert [j.id for j in store.list_jobs(10)] == ids[::-1]
    assert [j.priority for j in store.list_jobs(10, sort="priority")] == [0, 3, 5]
    store.claim([ids[0]], 1.0, 2.0)
    assert [j.id for j in store.list_jobs(10, state="running")] == [ids[0]]
    assert store.count_by_state() == {JobState.READY: 2, JobState.RUNNING: 1}


def test_integrity_check(store: Store) -> None:
    assert store.integrity_check() == "ok"
