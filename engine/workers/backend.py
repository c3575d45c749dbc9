"""The ``Backend`` port: how the engine hands a claimed job to the thing that runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from engine.model import JSON, FailureClass, Job
from engine.store.base import Store
from engine.store.records import Effect


class Backend(Protocol):
    """Runs one attempt of a job and returns its result (JSON).

    Raise ``engine.signals.Retry`` for a transient failure, ``Fail`` for a permanent one,
    ``NeedsApproval`` to park the job for the owner. Any other exception fails the attempt as
    ``other``. A backend is cancelled (``CancelledError``) when its job is cancelled or stuck.
    """

    handles_timeout: bool
    """True when the backend enforces ``job.timeout_s`` itself (a command it must stop
    cleanly); otherwise the engine cancels the attempt when the timeout passes."""

    async def run(self, job: Job, ctx: RunContext) -> JSON: ...


class Effects:
    """The ledger of side effects, keyed for idempotency: a retried job asks it before acting."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def get(self, key: str) -> Effect | None:
        return self._store.effect_get(key)

    def start(self, key: str, job_id: int, ref: str | None = None) -> None:
        """Record, before acting, that the effect is about to happen."""
        self._store.effect_start(key, job_id, ref, self._clock())

    def done(self, key: str, result: JSON) -> None:
        self._store.effect_done(key, result, self._clock())

    def fail(self, key: str, reason: str, failure: FailureClass) -> None:
        """Record that the effect was tried and failed: a recovered job reports the same
        failure instead of acting again; only the owner's retry clears it."""
        self._store.effect_fail(key, {"reason": reason, "class": failure.value}, self._clock())

    def drop(self, key: str) -> None:
        """Forget a started effect that is known not to have happened."""
        self._store.effect_drop(key)

    def live_refs(self) -> list[str]:
        """Refs of effects not done yet: what a backend must not clean away."""
        return self._store.effects_live_refs()


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a backend may use while it runs one attempt."""

    job: Job
    attempt: int
    data_dir: Path
    effects: Effects
    beat: Callable[[], None]
    released: Callable[[], bool]
    """True once the engine is handing this job back at shutdown rather than cancelling it:
    a backend whose work can outlive the process (a detached command) should leave it running
    so the next start adopts it."""

    def heartbeat(self) -> None:
        """Say the job is alive; a job silent for the stuck threshold is failed and retried."""
        self.beat()

    @property
    def effect_key(self) -> str:
        """The job's key in the effects ledger: its idempotency key, or its id."""
        return self.job.idempotency_key or f"job-{self.job.id}"
