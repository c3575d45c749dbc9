"""Workers and sessions in SQLite, and the router that applies ``engine.rules.sessions`` to them.

A worker is configuration (backend, model, persona, skills, project, limits, persistent or
ephemeral). A session is one CLI conversation with an explicit id, held ``busy`` by the job that
runs in it. ``Router.route`` picks the worker and the session for a job in one transaction.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from engine.model import JSON, FailureClass
from engine.rules import sessions as rules
from engine.rules.sessions import How, Limits, Refusal, Request, Reuse, Session, SessionState
from engine.signals import Fail, Retry

BUSY_RETRY_S = 30.0


class QueryRunner(Protocol):
    """What the repository needs of the store (``SqliteStore`` is one)."""

    def run(self, name: str, params: dict[str, Any] | tuple[Any, ...] | None = None
            ) -> list[sqlite3.Row]: ...

    def transaction(self) -> AbstractContextManager[None]: ...


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """A worker row: what its runs are started with. ``limits`` bound session reuse."""

    name: str
    backend: str
    model: str | None = None
    persona: str | None = None
    skills: tuple[str, ...] = ()
    persistent: bool = False
    project: str | None = None
    limits: Limits = field(default_factory=Limits)

    def config(self) -> dict[str, JSON]:
        return {"max_tokens": self.limits.max_tokens, "max_reuses": self.limits.max_reuses,
                "max_age_s": self.limits.max_age_s}


@dataclass(frozen=True, slots=True)
class WorkerView:
    """A worker as ``worker list`` and ``/workers`` show it."""

    worker: WorkerConfig
    sessions: int
    running: int
    cost_usd: float
    last_used_at: float | None

    @property
    def state(self) -> str:
        return "busy" if self.running else "idle"


def _limits(config: JSON) -> Limits:
    c = config if isinstance(config, dict) else {}
    d = Limits()
    return Limits(int(c.get("max_tokens", d.max_tokens)), int(c.get("max_reuses", d.max_reuses)),
                  float(c.get("max_age_s", d.max_age_s)))


def _worker(r: sqlite3.Row) -> WorkerConfig:
    return WorkerConfig(r["name"], r["backend"], r["model"], r["persona"],
                        tuple(json.loads(r["skills"])), bool(r["persistent"]), r["project"],
                        _limits(json.loads(r["config"])))


def _session(r: sqlite3.Row) -> Session:
    return Session(r["id"], r["worker"], r["backend"], r["project"], r["external_id"],
                   SessionState(r["state"]), r["turns"], r["reuse_count"], r["size_tokens"],
                   r["created_at"], r["last_used_at"], r["summary"])


class SessionRepo:
    """Workers and sessions over named queries (``engine/store/queries/sessions.sql``)."""

    def __init__(self, store: QueryRunner) -> None:
        self._store = store

    def transaction(self) -> AbstractContextManager[None]:
        return self._store.transaction()

    # -- workers ---------------------------------------------------------------------------------

    def add_worker(self, w: WorkerConfig, now: float, replace: bool = False) -> bool:
        """Store a new worker (or, with ``replace``, a worker's new configuration); False when
        the name is taken and not replaced."""
        params = {"name": w.name, "backend": w.backend, "model": w.model, "persona": w.persona,
                  "skills": json.dumps(list(w.skills)), "persistent": int(w.persistent),
                  "config": json.dumps(w.config()), "project": w.project, "now": now}
        query = "sessions_worker_replace" if replace else "sessions_worker_add"
        with self._store.transaction():
            return bool(self._store.run(query, params))

    def worker(self, name: str) -> WorkerConfig | None:
        rows = self._store.run("sessions_worker_get", {"name": name})
        return _worker(rows[0]) if rows else None

    def overview(self) -> list[WorkerView]:
        return [WorkerView(_worker(r), r["sessions"], r["running"], r["cost_usd"],
                           r["last_used_at"])
                for r in self._store.run("sessions_workers_overview")]

    def remove_worker(self, name: str) -> str | None:
        """Remove a worker and its sessions; the reason it cannot be, or None when removed."""
        with self._store.transaction():
            view = next((v for v in self.overview() if v.worker.name == name), None)
            if view is None:
                return f"there is no worker {name!r}"
            if view.running:
                return f"worker {name!r} is busy; cancel its job first"
            self._store.run("sessions_drop_of_worker", {"name": name})
            self._store.run("sessions_worker_remove", {"name": name})
        return None

    def routing_workers(self, backend: str) -> list[tuple[WorkerConfig, rules.Worker]]:
        return [(w := _worker(r), rules.Worker(w.name, w.backend, w.persistent, w.project,
                                               bool(r["busy"]), r["last_used_at"] or 0.0))
                for r in self._store.run("sessions_workers_of", {"backend": backend})]

    # -- sessions --------------------------------------------------------------------------------

    def session(self, ref: str) -> Session | None:
        rows = self._store.run("sessions_get", {"id": ref})
        return _session(rows[0]) if rows else None

    def sessions(self, backend: str) -> list[Session]:
        return [_session(r) for r in self._store.run("sessions_of_backend", {"backend": backend})]

    def listing(self, limit: int, include_retired: bool = False) -> list[Session]:
        return [_session(r) for r in self._store.run(
            "sessions_list", {"limit": limit, "all": int(include_retired)})]

    def open(self, worker: str, backend: str, project: str | None, job_id: int, now: float,
             summary: str | None = None, compacted_from: str | None = None) -> Session:
        """A new session row, held by ``job_id``; its id is the one the CLI is started with."""
        sid = str(uuid.uuid4())
        self._store.run("sessions_insert", {
            "id": sid, "worker": worker, "backend": backend, "project": project,
            "job_id": job_id, "summary": summary, "compacted_from": compacted_from, "now": now})
        return Session(sid, worker, backend, project, None, SessionState.BUSY, 0, 0, 0, now, now,
                       summary)

    def hold(self, session: Session, job_id: int) -> None:
        self._store.run("sessions_hold", {"id": session.id, "job_id": job_id})

    def release(self, session_id: str) -> None:
        self._store.run("sessions_release", {"id": session_id})

    def release_stale(self, job_id: int) -> None:
        self._store.run("sessions_release_stale", {"job_id": job_id})

    def retire(self, session_id: str, reason: str) -> None:
        self._store.run("sessions_retire", {"id": session_id, "reason": reason})

    def mark_started(self, session_id: str, external_id: str | None) -> None:
        self._store.run("sessions_mark_started", {"id": session_id, "external_id": external_id})

    def oversize(self, session_id: str, size_tokens: int) -> None:
        self._store.run("sessions_oversize", {"id": session_id, "size_tokens": size_tokens})

    def record_turn(self, session_id: str, run: str, turn: Turn, now: float) -> None:
        """Count one answered run against its session (once per ``run``) and free it."""
        self._store.run("sessions_record_turn", {
            "id": session_id, "run": run, "external_id": turn.external_id,
            "reused": int(turn.reused), "growth": turn.growth, "cost_usd": turn.cost_usd,
            "now": now})


@dataclass(frozen=True, slots=True)
class Turn:
    """What one answered run adds to its session."""

    external_id: str | None
    reused: bool
    growth: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class Plan:
    """Where a job runs: the worker, the session held for it, and how to start the CLI."""

    how: How
    worker: WorkerConfig
    session: Session
    resume: bool
    """Continue the CLI's conversation ``session.external_id`` rather than start ``session.id``."""
    reason: str
    compact: Session | None = None
    """An oversized session to summarise first; ``Router.compacted`` then opens its successor."""


class Router:
    """Routes coding-agent jobs to workers and sessions (the order is in ``engine.rules``)."""

    def __init__(self, repo: SessionRepo, clock: Callable[[], float]) -> None:
        self._repo = repo
        self._clock = clock

    def route(self, job_id: int, request: Request) -> Plan:
        """Pick and hold a worker's session for the job; ``Fail`` for a request that cannot be
        met, ``Retry`` when the worker or session it names is busy."""
        now = self._clock()
        with self._repo.transaction():
            self._repo.release_stale(job_id)
            pairs = self._repo.routing_workers(request.backend)
            named = self._repo.session(request.session) if request.session else None
            seen = [r for _, r in pairs]
            other = (self._repo.worker(request.worker)
                     if request.worker and request.worker not in {r.name for r in seen} else None)
            if other is not None:  # named, of another backend: refused by name below
                seen.append(rules.Worker(other.name, other.backend))
            choice = rules.choose(request, seen, named)
            if isinstance(choice, Refusal):
                if choice.busy:
                    raise Retry(choice.reason, FailureClass.OTHER, BUSY_RETRY_S)
                raise Fail(choice.reason, FailureClass.INVALID_INPUT)
            configs = {c.name: c for c, _ in pairs}
            worker = (configs[choice.worker] if choice.worker is not None
                      else self._ephemeral(request.backend, configs, now))
            return self._session_plan(job_id, request, choice.how, worker, choice.session, now)

    def _ephemeral(self, backend: str, configs: dict[str, WorkerConfig],
                   now: float) -> WorkerConfig:
        """A new ephemeral worker, configured like the worker named after the backend."""
        template = configs.get(backend, WorkerConfig(backend, backend))
        worker = replace(template, name=f"{backend}-{secrets.token_hex(3)}", persistent=False,
                         project=None)
        self._repo.add_worker(worker, now)
        return worker

    def _session_plan(self, job_id: int, request: Request, how: How, worker: WorkerConfig,
                      named: Session | None, now: float) -> Plan:
        project = request.project or worker.project
        candidate = named or rules.latest(self._repo.sessions(worker.backend), worker.name,
                                          project)
        verdict = rules.check(candidate, worker.limits, now, persistent=worker.persistent,
                              explicit=named is not None)
        if candidate is None or verdict.action is Reuse.NEW:
            if candidate is not None and worker.persistent:
                self._repo.retire(candidate.id, verdict.reason)
            fresh = self._repo.open(worker.name, worker.backend, project, job_id, now)
            return Plan(how, worker, fresh, False, verdict.reason)
        self._repo.hold(candidate, job_id)
        if verdict.action is Reuse.COMPACT:
            return Plan(how, worker, candidate, True, verdict.reason, compact=candidate)
        return Plan(how, worker, candidate, verdict.action is Reuse.RESUME, verdict.reason)

    def compacted(self, plan: Plan, summary: str, job_id: int) -> Plan:
        """Retire the compacted session and hold its successor, which carries the summary."""
        old = plan.compact or plan.session
        with self._repo.transaction():
            self._repo.retire(old.id, f"compacted: {plan.reason}")
            fresh = self._repo.open(plan.worker.name, plan.worker.backend, old.project, job_id,
                                    self._clock(), summary=summary, compacted_from=old.id)
        return replace(plan, session=fresh, resume=False, compact=None)

    def release(self, plan: Plan) -> None:
        self._repo.release(plan.session.id)
