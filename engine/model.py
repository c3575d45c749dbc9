"""The job model: frozen values and the enums that name their states."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, TypeAlias

JSON: TypeAlias = Any
"""A value that survives ``json.dumps``/``json.loads`` unchanged."""


class JobState(StrEnum):
    WAITING = "waiting"
    READY = "ready"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.DEAD}
)


class BackendName(StrEnum):
    LLM = "llm"
    CLAUDE_CODE = "claude_code"
    CODEX = "codex"
    SHELL = "shell"
    SKILL = "skill"
    GROUP = "group"
    """A promise group: resolved by the engine itself from its members, never dispatched."""


class Origin(StrEnum):
    OWNER = "owner"
    RHYTHM = "rhythm"
    PIPELINE = "pipeline"
    SYSTEM = "system"


class Trust(StrEnum):
    COMMAND = "command"
    DATA = "data"


class GroupKind(StrEnum):
    ALL = "all"
    RACE = "race"
    ALL_SETTLED = "allSettled"
    ANY = "any"


class FailureClass(StrEnum):
    """Why an attempt failed; recorded on every failed attempt."""

    CONTEXT_LOSS = "context_loss"
    RATE_LIMIT = "rate_limit"
    OPTIMISTIC_COMPLETION = "optimistic_completion"
    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    CRASH = "crash"
    INVALID_INPUT = "invalid_input"
    UNCERTAIN_EFFECT = "uncertain_effect"
    DEPENDENCY = "dependency"
    OTHER = "other"


class AttemptOutcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CRASHED = "crashed"
    INTERRUPTED = "interrupted"
    """Released by a graceful shutdown; does not count towards the dead letter."""


class Priority(IntEnum):
    P0 = 0
    P1 = 1
    P2 = 2
    P3 = 3
    P4 = 4
    P5 = 5


PRIORITIES = range(0, 6)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a caller asks for; the store turns it into a ``Job`` row."""

    backend: BackendName
    payload: JSON = field(default_factory=dict)
    priority: int = 2
    origin: Origin = Origin.OWNER
    trust: Trust = Trust.COMMAND
    idempotency_key: str | None = None
    not_before: float | None = None
    max_attempts: int = 4
    timeout_s: float | None = None
    output_schema: JSON | None = None
    name: str | None = None
    reply_to: str | None = None
    """Where the answer goes (a channel address): the terminal transition writes an outbox row."""
    worker: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    backend: BackendName
    state: JobState
    payload: JSON
    priority: int
    origin: Origin
    trust: Trust
    idempotency_key: str | None
    not_before: float
    max_attempts: int
    attempts: int
    recoveries: int
    timeout_s: float | None
    output_schema: JSON | None
    name: str | None
    reply_to: str | None
    worker: str | None
    result: JSON
    error: str | None
    failure_class: FailureClass | None
    created_at: float
    ready_at: float | None
    started_at: float | None
    finished_at: float | None
    cancel_requested: bool
    pending_deps: int
    idx: int | None


@dataclass(frozen=True, slots=True)
class Attempt:
    job_id: int
    number: int
    started_at: float
    finished_at: float
    outcome: AttemptOutcome
    failure_class: FailureClass | None
    error: str | None
    worker: str | None
    run_id: str


@dataclass(frozen=True, slots=True)
class Need:
    """A dependency of a graph node: on another node's key, or on a stored job's id."""

    ref: str | int
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Node:
    """One job of a graph; a node with ``group`` set is a promise group over its needs."""

    key: str
    spec: JobSpec
    group: GroupKind | None = None
    needs: tuple[Need, ...] = ()
    idx: int | None = None


@dataclass(frozen=True, slots=True)
class Graph:
    """A compiled DAG: nodes in dependency order; ``result_key`` names the node that answers."""

    nodes: tuple[Node, ...]
    result_key: str
