"""The ``Store`` port: everything the engine asks of its database, one method per named query."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any, Protocol

from engine.model import JSON, Attempt, FailureClass, GroupKind, Job, JobState
from engine.rules.claim import Candidate
from engine.store.records import Effect, NewJob, OutboxRow, ParentRow


class Store(Protocol):
    """Durable state of the engine. ``SqliteStore`` is the implementation; the contract tests
    in ``tests/contracts`` hold it to this."""

    @property
    def schema_version(self) -> int:
        ...

    def close(self) -> None:
        ...

    def defer_checkpoints(self) -> None:
        """Leave WAL checkpoints to ``checkpoint`` instead of doing them inside commits."""
        ...

    def checkpoint(self) -> None:
        """Copy the WAL into the database without blocking writers; safe in another thread."""
        ...

    def data_version(self) -> int:
        """Changes whenever another connection commits: how the loop notices the CLI."""
        ...

    def integrity_check(self) -> str:
        ...

    def run(self, name: str, params: dict[str, Any] | tuple[Any, ...] | None = None
            ) -> list[sqlite3.Row]:
        """Run one named query and return its rows (for an area's repository)."""
        ...

    def run_many(self, name: str, rows: list[dict[str, Any]] | list[tuple[Any, ...]]) -> None:
        """Run one named statement for many rows."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction; nested use joins the outer one."""
        ...

    def insert_job(self, new: NewJob) -> tuple[int, bool]:
        """(id, created): an existing idempotency key returns the job already stored."""
        ...

    def insert_jobs(self, news: list[NewJob]) -> list[int]:
        """Many jobs without keys or edges, in one statement run: the bulk enqueue path."""
        ...

    def insert_edges(self, edges: list[tuple[int, int, int, str | None]]) -> None:
        """(child, parent, idx, name) for each dependency."""
        ...

    def insert_group(self, job_id: int, kind: GroupKind) -> None:
        ...

    def group_kind(self, job_id: int) -> GroupKind | None:
        ...

    def mark_group_settled(self, job_id: int, now: float) -> None:
        ...

    def get_job(self, job_id: int) -> Job:
        ...

    def template_of(self, job_id: int) -> JSON:
        ...

    def list_jobs(self, limit: int, sort: str = "created", state: str | None = None) -> list[Job]:
        ...

    def count_by_state(self) -> dict[JobState, int]:
        ...

    def candidates(self, per_lane: int) -> list[Candidate]:
        ...

    def claim(self, ids: list[int], now: float, lease: float) -> list[Job]:
        """Move ``ids`` from ready to running (those still ready), in one statement."""
        ...

    def insert_attempts(self, attempts: list[Attempt]) -> None:
        """Write ended attempts: each is written once, when it ends."""
        ...

    def attempts_of(self, job_id: int) -> list[Attempt]:
        ...

    def finish_done(self, results: list[tuple[int, str]], now: float) -> None:
        """Mark many jobs done at once, with their results as JSON text: the loop's hot path."""
        ...

    def finish_job(self, job_id: int, state: JobState, now: float, result: JSON = None,
                   error: str | None = None, failure: FailureClass | None = None) -> None:
        ...

    def retry_later(self, job_id: int, not_before: float, error: str,
                    failure: FailureClass) -> None:
        ...

    def release(self, job_id: int, now: float) -> None:
        ...

    def recover(self, job_id: int, now: float, error: str) -> None:
        ...

    def park(self, job_id: int, reason: str) -> None:
        ...

    def approve(self, job_id: int, now: float) -> bool:
        ...

    def make_runnable(self, job_id: int, rendered: JSON, now: float) -> None:
        ...

    def promote_due(self, now: float) -> int:
        ...

    def next_wakeup(self) -> float | None:
        """The earliest moment a delayed job becomes due or a lease runs out."""
        ...

    def expired_leases(self, now: float) -> list[Job]:
        ...

    def running_jobs(self) -> list[Job]:
        ...

    def extend_leases(self, leases: dict[int, float]) -> None:
        ...

    def request_cancel(self, job_id: int) -> None:
        ...

    def cancel_requested_running(self) -> list[int]:
        ...

    def children_of(self, parent_ids: list[int]) -> list[tuple[int, int, JobState]]:
        """(child, parent, parent's state) for every edge out of ``parent_ids``."""
        ...

    def decrement_pending(self, child_id: int, settled: int) -> Job:
        """Count ``settled`` more parents of the child as settled; returns the child."""
        ...

    def parents(self, child_id: int) -> list[ParentRow]:
        ...

    def descendants(self, job_id: int) -> list[Job]:
        ...

    def reset_for_retry(self, ids: list[int], now: float) -> None:
        ...

    def recount_pending(self, ids: list[int]) -> None:
        ...

    def outbox_add(self, topic: str, payload: JSON, now: float, *, address: str | None = None,
                   job_id: int | None = None, dedupe_key: str | None = None) -> None:
        ...

    def outbox_pending(self, limit: int) -> list[OutboxRow]:
        ...

    def outbox_mark_sent(self, row_id: int, now: float) -> None:
        ...

    def outbox_mark_failed(self, row_id: int, error: str) -> None:
        ...

    def effect_get(self, key: str) -> Effect | None:
        ...

    def effect_start(self, key: str, job_id: int, ref: str | None, now: float) -> None:
        ...

    def effect_done(self, key: str, result: JSON, now: float) -> None:
        ...

    def effect_fail(self, key: str, failure: JSON, now: float) -> None:
        ...

    def effect_drop(self, key: str) -> None:
        ...

    def effects_clear_unfinished(self, job_ids: list[int]) -> None:
        """Forget started or failed effects of jobs the owner asked to run again."""
        ...

    def effects_live_refs(self) -> list[str]:
        """The refs of effects not done: what a backend's sweep must keep."""
        ...

    def meta_get(self, key: str) -> str | None:
        ...

    def meta_set(self, key: str, value: str) -> None:
        ...
