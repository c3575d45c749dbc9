"""Session routing, pure: which worker takes a coding-agent job and whether its session is reused.

Workers are chosen in order: explicit assignment (the payload names a session or a worker), a
worker bound to the job's project, an idle worker of the same backend, a new ephemeral worker.
A session is reused only after checks — it exists, it is not too old, not reused too often, not
too big — and an oversized one is compacted into a fresh session rather than abandoned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

DEFAULT_MAX_TOKENS = 120_000
DEFAULT_MAX_REUSES = 20
DEFAULT_MAX_AGE_S = 3 * 86_400.0


class SessionState(StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    RETIRED = "retired"
    """Too old or reused too often, replaced by a compacted successor, or lost by the CLI."""


@dataclass(frozen=True, slots=True)
class Limits:
    """When a session stops being reused: tokens taken in, times reused, age since created."""

    max_tokens: int = DEFAULT_MAX_TOKENS
    max_reuses: int = DEFAULT_MAX_REUSES
    max_age_s: float = DEFAULT_MAX_AGE_S


@dataclass(frozen=True, slots=True)
class Worker:
    """A worker as routing sees it: configuration plus whether a job holds it now."""

    name: str
    backend: str
    persistent: bool = False
    project: str | None = None
    busy: bool = False
    last_used_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Session:
    """One CLI conversation, known by our id; ``external_id`` is the CLI's (None until known)."""

    id: str
    worker: str
    backend: str
    project: str | None
    external_id: str | None
    state: SessionState
    turns: int
    reuse_count: int
    size_tokens: int
    created_at: float
    last_used_at: float
    summary: str | None = None
    """Carried from a compacted predecessor, sent with the first turn."""


@dataclass(frozen=True, slots=True)
class Request:
    """What a job asks for: its backend, and optionally a worker, a session, a project."""

    backend: str
    worker: str | None = None
    session: str | None = None
    project: str | None = None


class How(StrEnum):
    """Why a worker was chosen: the step of the routing order that chose it."""

    SESSION = "explicit_session"
    WORKER = "explicit_worker"
    PROJECT = "project"
    IDLE = "idle"
    NEW = "new"


@dataclass(frozen=True, slots=True)
class Choice:
    """The chosen worker (None: make a new ephemeral one) and, when named, its session."""

    how: How
    worker: str | None
    session: Session | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """No worker can take the job: ``busy`` says waiting may help, else the request is wrong."""

    reason: str
    busy: bool = False


def choose(request: Request, workers: Sequence[Worker],
           named: Session | None = None) -> Choice | Refusal:
    """The routing order; ``named`` is the session the request names, if it was found."""
    if request.session is not None:
        return _named_session(request, workers, named)
    if request.worker is not None:
        return _named_worker(request, workers)
    mine = [w for w in workers if w.backend == request.backend and not w.busy]
    if request.project is not None:
        bound = [w for w in mine if w.project == request.project]
        if bound:
            return Choice(How.PROJECT, _best(bound).name)
    free = [w for w in mine if w.project is None]
    if free:
        return Choice(How.IDLE, _best(free).name)
    return Choice(How.NEW, None)


def _best(workers: Sequence[Worker]) -> Worker:
    """Persistent workers first (their sessions carry on), then the most recently used."""
    return min(workers, key=lambda w: (not w.persistent, -w.last_used_at, w.name))


def _named_session(request: Request, workers: Sequence[Worker],
                   named: Session | None) -> Choice | Refusal:
    if named is None or named.state is SessionState.RETIRED:
        return Refusal(f"session {request.session} does not exist or was closed; "
                       "leave out session to start a new one")
    if named.backend != request.backend:
        return Refusal(f"session {request.session} belongs to {named.backend}, "
                       f"not {request.backend}")
    owner = next((w for w in workers if w.name == named.worker), None)
    if named.state is SessionState.BUSY or (owner is not None and owner.busy):
        return Refusal(f"session {request.session} is busy with another job", busy=True)
    return Choice(How.SESSION, named.worker, named)


def _named_worker(request: Request, workers: Sequence[Worker]) -> Choice | Refusal:
    worker = next((w for w in workers if w.name == request.worker), None)
    if worker is None:
        return Refusal(f"there is no worker {request.worker!r}; see `steward worker list`")
    if worker.backend != request.backend:
        return Refusal(f"worker {worker.name!r} runs {worker.backend}, not {request.backend}")
    if worker.busy:
        return Refusal(f"worker {worker.name!r} is busy with another job", busy=True)
    return Choice(How.WORKER, worker.name)


class Reuse(StrEnum):
    NEW = "new"
    """Start a new session."""
    START = "start"
    """Start the CLI conversation of a session row that has none yet (a compacted successor)."""
    RESUME = "resume"
    COMPACT = "compact"
    """Summarise the session into a fresh one and carry the summary."""


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Reuse
    reason: str


def check(session: Session | None, limits: Limits, now: float, *, persistent: bool,
          explicit: bool = False) -> Verdict:
    """Whether to reuse ``session`` (the worker's latest for the project). Ephemeral workers
    start fresh for every job; a session the job names is compacted rather than dropped."""
    if session is None or session.state is not SessionState.IDLE:
        return Verdict(Reuse.NEW, "no reusable session")
    if not (persistent or explicit):
        return Verdict(Reuse.NEW, "an ephemeral worker starts a fresh session for each job")
    if session.turns == 0 or session.external_id is None:
        return Verdict(Reuse.START, "its conversation has not started yet")
    problem = _breach(session, limits, now)
    if problem is None:
        return Verdict(Reuse.RESUME, "within its limits")
    if explicit or problem.startswith("size"):
        return Verdict(Reuse.COMPACT, problem)
    return Verdict(Reuse.NEW, problem)


def _breach(session: Session, limits: Limits, now: float) -> str | None:
    """The first limit the session is past, in words, or None."""
    age_s = now - session.created_at
    if age_s > limits.max_age_s:
        return f"age {age_s / 3600:.1f} h is past {limits.max_age_s / 3600:g} h"
    if session.reuse_count >= limits.max_reuses:
        return f"reused {session.reuse_count} times, the limit is {limits.max_reuses}"
    if session.size_tokens > limits.max_tokens:
        return f"size {session.size_tokens} tokens is past {limits.max_tokens}"
    return None


def latest(sessions: Sequence[Session], worker: str, project: str | None) -> Session | None:
    """The worker's most recently used live session for ``project``."""
    live = [s for s in sessions if s.worker == worker and s.project == project
            and s.state is not SessionState.RETIRED]
    return max(live, key=lambda s: (s.last_used_at, s.created_at), default=None)


def growth(input_tokens: int, cached_tokens: int, output_tokens: int) -> int:
    """Tokens a turn added to its session: new input and output (cache reads are old text)."""
    return max(input_tokens - cached_tokens, 0) + max(output_tokens, 0)
