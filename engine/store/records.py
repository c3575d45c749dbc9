"""Rows the store reads and writes that are not jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.model import JSON, JobState


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job row about to be inserted; payload and schema are already JSON text."""

    backend: str
    state: str
    payload: str
    input: str | None
    priority: int
    origin: str
    trust: str
    idempotency_key: str | None
    not_before: float
    max_attempts: int
    timeout_s: float | None
    output_schema: str | None
    name: str | None
    reply_to: str | None
    worker: str | None
    created_at: float
    ready_at: float | None
    pending_deps: int
    idx: int | None

    def params(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}

    def row(self) -> tuple[Any, ...]:
        """The values in field order, for the positional bulk insert."""
        return (self.backend, self.state, self.payload, self.input, self.priority, self.origin,
                self.trust, self.idempotency_key, self.not_before, self.max_attempts,
                self.timeout_s, self.output_schema, self.name, self.reply_to, self.worker,
                self.created_at, self.ready_at, self.pending_deps, self.idx)


@dataclass(frozen=True, slots=True)
class ParentRow:
    job_id: int
    idx: int
    name: str | None
    state: JobState
    result: JSON
    error: str | None
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    topic: str
    address: str | None
    payload: JSON
    job_id: int | None
    created_at: float
    tries: int


@dataclass(frozen=True, slots=True)
class Effect:
    """A side effect keyed for idempotency: ``started`` before it happens, ``done`` after."""

    key: str
    job_id: int
    state: str
    ref: str | None
    result: JSON
