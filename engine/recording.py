"""Recording how attempts ended: attempt rows, terminal states, retries and recoveries.

Every function runs inside the caller's store transaction and adds to its ``Changes``; the loop
acts on those (waking waiters, stopping tasks) once the transaction commits.
"""

from __future__ import annotations

from engine import resolver
from engine.model import Attempt, AttemptOutcome, FailureClass, Job, JobState
from engine.outcomes import Cancelled, Failed, Outcome, Parked, Released, Succeeded
from engine.resolver import Changes
from engine.rules import retry as retry_rule
from engine.store.base import Store

Batch = list[tuple[Job, Outcome]]


def record(store: Store, batch: Batch, now: float, run_id: str, delays_s: tuple[float, ...],
           changes: Changes) -> float | None:
    """Record finished attempts and settle what they release; returns the earliest moment a
    retried job becomes due (None if nothing was retried)."""
    with store.transaction():
        store.insert_attempts([attempt_row(j, o, now, run_id) for j, o in batch])
        done = [(j, o.result, o.text) for j, o in batch if isinstance(o, Succeeded)]
        resolver.finish_done(store, done, now, changes)
        due = [at for job, outcome in batch
               if (at := _record(store, job, outcome, now, delays_s, changes)) is not None]
        resolver.settle(store, list(changes.settled), now, changes)
    return min(due) if due else None


def attempt_row(job: Job, outcome: Outcome, now: float, run_id: str) -> Attempt:
    """The attempt as it ended; written once, now."""
    failure, error, kind = None, None, AttemptOutcome.DONE
    match outcome:
        case Failed():
            failure, error, kind = outcome.failure, outcome.error, AttemptOutcome.FAILED
        case Cancelled(reason):
            error, kind = reason, AttemptOutcome.CANCELLED
        case Released():
            error, kind = "released at shutdown", AttemptOutcome.INTERRUPTED
        case Parked(action):
            error, kind = f"awaiting approval: {action}", AttemptOutcome.INTERRUPTED
    return Attempt(job.id, job.attempts, job.started_at or now, now, kind, failure, error,
                   job.worker, run_id)


def _record(store: Store, job: Job, outcome: Outcome, now: float, delays_s: tuple[float, ...],
            changes: Changes) -> float | None:
    """Every outcome but success (which ``finish_done`` wrote in bulk); a retry's due time."""
    match outcome:
        case Failed():
            return _fail(store, job, outcome, now, delays_s, changes)
        case Cancelled(reason):
            resolver.finish(store, job, JobState.CANCELLED, now, changes, error=reason)
        case Released():
            store.release(job.id, now)
        case Parked(action):
            store.park(job.id, f"awaiting approval: {action}")
    return None


def _fail(store: Store, job: Job, f: Failed, now: float, delays_s: tuple[float, ...],
          changes: Changes) -> float | None:
    decision = retry_rule.decide(f.failure, job.attempts, job.max_attempts, delays_s,
                                 f.delay_s, f.transient)
    if decision.retry:
        at = now + decision.delay_s
        store.retry_later(job.id, at, f.error, f.failure)
        return at
    resolver.finish(store, job, JobState.FAILED, now, changes, error=f.error, failure=f.failure)
    return None


def recover(store: Store, orphans: list[Job], now: float, max_recoveries: int,
            changes: Changes) -> None:
    """Jobs left running by a process that died: run again, cancel if asked, or dead-letter."""
    with store.transaction():
        for job in orphans:
            _recover_one(store, job, now, max_recoveries, changes)
        resolver.settle(store, list(changes.settled), now, changes)


def _recover_one(store: Store, job: Job, now: float, max_recoveries: int,
                 changes: Changes) -> None:
    if job.cancel_requested:
        store.insert_attempts([Attempt(
            job.id, job.attempts, job.started_at or now, now, AttemptOutcome.CANCELLED, None,
            "cancelled while its process was down", job.worker, "?")])
        resolver.finish(store, job, JobState.CANCELLED, now, changes,
                        error="cancelled by the owner")
        return
    store.insert_attempts([Attempt(
        job.id, job.attempts, job.started_at or now, now, AttemptOutcome.CRASHED,
        FailureClass.CRASH, "the process died while the job ran", job.worker, "?")])
    if job.recoveries + 1 > max_recoveries:
        resolver.finish(store, job, JobState.DEAD, now, changes, failure=FailureClass.CRASH,
                        error=f"its process died {job.recoveries + 1} times while running it; "
                              "moved to the dead letter")
    else:
        store.recover(job.id, now, "the process died while the job ran")
