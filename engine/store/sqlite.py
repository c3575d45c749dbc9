"""The SQLite store: WAL, numbered migrations, named queries, explicit write transactions."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.errors import DatabaseCorrupt, DatabaseLocked, JobNotFound, StoreError
from engine.model import (
    JSON,
    Attempt,
    AttemptOutcome,
    BackendName,
    FailureClass,
    GroupKind,
    Job,
    JobState,
    Origin,
    Trust,
)
from engine.rules.claim import Candidate
from engine.store.base import Store
from engine.store.records import Effect, NewJob, OutboxRow, ParentRow
from engine.store.sql import load_migrations, load_queries

BUSY_TIMEOUT_MS = 10_000


def dumps(value: JSON) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None) -> JSON:
    return None if text is None else json.loads(text)


JOB_COLUMNS = (
    "id", "backend", "state", "payload", "input", "priority", "origin", "trust",
    "idempotency_key", "not_before", "max_attempts", "attempts", "recoveries", "timeout_s",
    "output_schema", "name", "reply_to", "worker", "result", "error", "failure_class",
    "created_at", "ready_at", "started_at", "finished_at", "lease_expires_at",
    "cancel_requested", "pending_deps", "idx",
)
"""The jobs table's columns in table order: ``_job`` reads rows by position, which is several
times faster than by name on the claim path; ``open`` checks the table still matches."""

_BACKENDS = BackendName._value2member_map_
_STATES = JobState._value2member_map_
_ORIGINS = Origin._value2member_map_
_TRUSTS = Trust._value2member_map_


def _job(r: sqlite3.Row) -> Job:
    fc = r[20]
    return Job(
        r[0], _BACKENDS[r[1]], _STATES[r[2]],  # type: ignore[arg-type]
        json.loads(r[4] if r[4] is not None else r[3]),
        r[5], _ORIGINS[r[6]], _TRUSTS[r[7]], r[8], r[9], r[10], r[11], r[12], r[13],  # type: ignore[arg-type]
        loads(r[14]), r[15], r[16], r[17], loads(r[18]), r[19],
        FailureClass(fc) if fc else None, r[21], r[22], r[23], r[24], bool(r[26]), r[27], r[28],
    )


class SqliteStore:
    """The one ``Store``. Calls are synchronous and short; the engine runs them on its loop, so
    write transactions never interleave within the process, and ``BEGIN IMMEDIATE`` with a busy
    timeout serialises them against other processes (the CLI)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._q = load_queries()
        self._depth = 0
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpointing = threading.Lock()
        """Checkpoints run in worker threads (a cancelled ``to_thread`` keeps running): one at a
        time, and never while ``close`` closes their connection."""

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> SqliteStore:
        """Open (creating if needed) and migrate the database at ``path``."""
        _check_dir(path.parent)
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        store = cls(conn, path)
        try:
            store._configure()
            store._migrate()
            store._check_columns()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise _translate(exc, path) from exc
        return store

    def _configure(self) -> None:
        c = self._conn
        c.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        c.execute("PRAGMA journal_mode = WAL").fetchone()
        c.execute("PRAGMA synchronous = NORMAL")
        c.execute("PRAGMA foreign_keys = ON")
        c.execute("PRAGMA temp_store = MEMORY")

    def _check_columns(self) -> None:
        names = tuple(r[1] for r in self._conn.execute("PRAGMA table_info(jobs)"))
        if names[: len(JOB_COLUMNS)] != JOB_COLUMNS:
            raise DatabaseCorrupt(f"database {self.path}: the jobs table has unexpected columns")

    def _migrate(self) -> None:
        for version, script in load_migrations():
            if version <= self.schema_version:
                continue
            with self.transaction():
                # Another process may have migrated while we waited for the write lock.
                if version <= self.schema_version:
                    continue
                for statement in _statements(script):
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {version}")

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._checkpointing:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            self._conn.close()

    def defer_checkpoints(self) -> None:
        """Stop this connection checkpointing the WAL inside its commits (a checkpoint syncs
        the disk and can stall the caller for milliseconds); ``checkpoint`` does it instead."""
        self._conn.execute("PRAGMA wal_autocheckpoint = 0")

    def checkpoint(self) -> None:
        """Copy the WAL into the database without blocking writers; safe in another thread."""
        try:
            with self._checkpointing:
                if self._checkpointer is None:
                    self._checkpointer = sqlite3.connect(self.path, isolation_level=None,
                                                         check_same_thread=False)
                self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc

    def data_version(self) -> int:
        """Changes whenever another connection commits: how the loop notices the CLI."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def integrity_check(self) -> str:
        return str(self._conn.execute("PRAGMA quick_check").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; nested use joins the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _translate(exc, self.path) from exc
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._rollback()
            raise
        self._depth = 0
        try:
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # a full or failing disk: nothing was written
            self._rollback()
            raise _translate(exc, self.path) from exc

    def _rollback(self) -> None:
        """Undo the open transaction; SQLite may already have (after an I/O error)."""
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.OperationalError):
                self._conn.execute("ROLLBACK")

    def run(self, name: str, params: dict[str, Any] | tuple[Any, ...] | None = None
            ) -> list[sqlite3.Row]:
        """Run one named query and return its rows: how an area's repository (the gateway's
        calls and breakers, memory's rows) reaches the database without SQL of its own."""
        return self._x(name, params).fetchall()

    def run_many(self, name: str, rows: list[dict[str, Any]] | list[tuple[Any, ...]]) -> None:
        """Run one named statement for many rows."""
        try:
            self._conn.executemany(self._q[name], rows)
        except sqlite3.OperationalError as exc:
            raise _translate(exc, self.path) from exc

    def _x(self, name: str, params: dict[str, Any] | tuple[Any, ...] | None = None
           ) -> _Rows:
        try:
            return _Rows(self._conn.execute(self._q[name], params or {}), self.path)
        except sqlite3.OperationalError as exc:
            raise _translate(exc, self.path) from exc

    # -- jobs ----------------------------------------------------------------------------------

    def insert_job(self, new: NewJob) -> tuple[int, bool]:
        """(id, created): an existing idempotency key returns the job already stored."""
        row = self._x("insert_job", new.params()).fetchone()
        if row is not None:
            return int(row[0]), True
        existing = self._x("job_id_by_key", {"key": new.idempotency_key}).fetchone()
        return int(existing[0]), False

    def insert_jobs(self, news: list[NewJob]) -> list[int]:
        """Many jobs without keys or edges, in one statement run: the bulk enqueue path."""
        if any(n.idempotency_key for n in news):
            raise ValueError("the bulk path takes jobs without idempotency keys")
        with self.transaction():
            before = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM jobs").fetchone()[0]
            self._conn.executemany(self._q["insert_jobs_bulk"], [n.row() for n in news])
        # INTEGER PRIMARY KEY hands out max+1 and we held the write lock: the ids are contiguous.
        return list(range(before + 1, before + 1 + len(news)))

    def insert_edges(self, edges: list[tuple[int, int, int, str | None]]) -> None:
        """(child, parent, idx, name) for each dependency."""
        self._conn.executemany(self._q["insert_edge"], [
            {"child": c, "parent": p, "idx": i, "name": n} for c, p, i, n in edges])

    def insert_group(self, job_id: int, kind: GroupKind) -> None:
        self._x("insert_group", {"job_id": job_id, "kind": kind.value})

    def group_kind(self, job_id: int) -> GroupKind | None:
        row = self._x("group_kind", {"id": job_id}).fetchone()
        return GroupKind(row[0]) if row else None

    def mark_group_settled(self, job_id: int, now: float) -> None:
        self._x("mark_group_settled", {"id": job_id, "now": now})

    def get_job(self, job_id: int) -> Job:
        row = self._x("get_job", {"id": job_id}).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return _job(row)

    def template_of(self, job_id: int) -> JSON:
        row = self._conn.execute("SELECT payload FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return loads(row[0])

    def list_jobs(self, limit: int, sort: str = "created", state: str | None = None) -> list[Job]:
        name = "list_jobs_by_priority" if sort == "priority" else "list_jobs_by_created"
        return [_job(r) for r in self._x(name, {"limit": limit, "state": state})]

    def count_by_state(self) -> dict[JobState, int]:
        return {JobState(r["state"]): r["n"] for r in self._x("count_by_state")}

    def candidates(self, per_lane: int) -> list[Candidate]:
        return [Candidate(r[0], r[1], r[2]) for r in self._x("candidates", {"n": per_lane})]

    def claim(self, ids: list[int], now: float, lease: float) -> list[Job]:
        """Move ``ids`` from ready to running (those still ready), in one statement."""
        with self.transaction():
            return [_job(r) for r in self._x(
                "claim", {"ids": dumps(ids), "now": now, "lease": lease})]

    def insert_attempts(self, attempts: list[Attempt]) -> None:
        """Write ended attempts: each is written once, when it ends."""
        self._conn.executemany(self._q["insert_attempt"], [
            (a.job_id, a.number, a.started_at, a.finished_at, a.outcome, a.failure_class,
             a.error, a.worker, a.run_id) for a in attempts])

    def attempts_of(self, job_id: int) -> list[Attempt]:
        return [
            Attempt(r["job_id"], r["number"], r["started_at"], r["finished_at"],
                    AttemptOutcome(r["outcome"]),
                    FailureClass(r["failure_class"]) if r["failure_class"] else None,
                    r["error"], r["worker"], r["run_id"])
            for r in self._x("attempts_of", {"job_id": job_id})
        ]

    def finish_done(self, results: list[tuple[int, str]], now: float) -> None:
        """Mark many jobs done at once, with their results as JSON text: the loop's hot path."""
        self._conn.executemany(self._q["finish_done"], [(text, now, i) for i, text in results])

    def finish_job(self, job_id: int, state: JobState, now: float, result: JSON = None,
                   error: str | None = None, failure: FailureClass | None = None) -> None:
        self._x("finish_job", {"id": job_id, "state": state.value, "now": now,
                               "result": None if result is None else dumps(result),
                               "error": error,
                               "failure_class": failure.value if failure else None})

    def retry_later(self, job_id: int, not_before: float, error: str,
                    failure: FailureClass) -> None:
        self._x("retry_later", {"id": job_id, "not_before": not_before, "error": error,
                                "failure_class": failure.value})

    def release(self, job_id: int, now: float) -> None:
        self._x("release", {"id": job_id, "now": now})

    def recover(self, job_id: int, now: float, error: str) -> None:
        self._x("recover", {"id": job_id, "now": now, "error": error})

    def park(self, job_id: int, reason: str) -> None:
        self._x("park", {"id": job_id, "reason": reason})

    def approve(self, job_id: int, now: float) -> bool:
        return self._x("approve", {"id": job_id, "now": now}).rowcount == 1

    def make_runnable(self, job_id: int, rendered: JSON, now: float) -> None:
        self._x("make_runnable", {"id": job_id, "input": dumps(rendered), "now": now})

    def promote_due(self, now: float) -> int:
        return len(self._x("promote_due", {"now": now}).fetchall())

    def next_wakeup(self) -> float | None:
        """The earliest moment a delayed job becomes due or a lease runs out."""
        due = self._x("next_due").fetchone()[0]
        lease = self._x("next_lease_expiry").fetchone()[0]
        times = [t for t in (due, lease) if t is not None]
        return min(times) if times else None

    def expired_leases(self, now: float) -> list[Job]:
        return [_job(r) for r in self._x("expired_leases", {"now": now})]

    def running_jobs(self) -> list[Job]:
        return [_job(r) for r in self._x("running_jobs")]

    def extend_leases(self, leases: dict[int, float]) -> None:
        self._conn.executemany(self._q["extend_lease"],
                               [{"id": i, "lease": t} for i, t in leases.items()])

    def request_cancel(self, job_id: int) -> None:
        self._x("request_cancel", {"id": job_id})

    def cancel_requested_running(self) -> list[int]:
        return [r[0] for r in self._x("cancel_requested_running")]

    # -- dependencies ---------------------------------------------------------------------------

    def children_of(self, parent_ids: list[int]) -> list[tuple[int, int, JobState]]:
        """(child, parent, parent's state) for every edge out of ``parent_ids``."""
        return [(r[0], r[1], _STATES[r[2]])  # type: ignore[misc]
                for r in self._x("children_of_many", {"ids": dumps(parent_ids)})]

    def decrement_pending(self, child_id: int, settled: int) -> Job:
        """Count ``settled`` more parents of the child as settled; returns the child."""
        return _job(self._x("decrement_pending", {"id": child_id, "n": settled}).fetchone())

    def parents(self, child_id: int) -> list[ParentRow]:
        return [
            ParentRow(r["parent_id"], r["idx"], r["name"], JobState(r["state"]),
                      loads(r["result"]), r["error"], r["finished_at"])
            for r in self._x("parents", {"id": child_id})
        ]

    def descendants(self, job_id: int) -> list[Job]:
        return [_job(r) for r in self._x("descendants", {"id": job_id})]

    def reset_for_retry(self, ids: list[int], now: float) -> None:
        self._x("reset_for_retry", {"ids": dumps(ids), "now": now})

    def recount_pending(self, ids: list[int]) -> None:
        self._x("recount_pending", {"ids": dumps(ids)})

    # -- outbox and effects ---------------------------------------------------------------------

    def outbox_add(self, topic: str, payload: JSON, now: float, *, address: str | None = None,
                   job_id: int | None = None, dedupe_key: str | None = None) -> None:
        self._x("outbox_add", {"topic": topic, "address": address, "payload": dumps(payload),
                               "job_id": job_id, "dedupe_key": dedupe_key, "now": now})

    def outbox_pending(self, limit: int) -> list[OutboxRow]:
        return [
            OutboxRow(r["id"], r["topic"], r["address"], loads(r["payload"]), r["job_id"],
                      r["created_at"], r["tries"])
            for r in self._x("outbox_pending", {"limit": limit})
        ]

    def outbox_mark_sent(self, row_id: int, now: float) -> None:
        self._x("outbox_mark_sent", {"id": row_id, "now": now})

    def outbox_mark_failed(self, row_id: int, error: str) -> None:
        self._x("outbox_mark_failed", {"id": row_id, "error": error})

    def effect_get(self, key: str) -> Effect | None:
        r = self._x("effect_get", {"key": key}).fetchone()
        if r is None:
            return None
        return Effect(r["key"], r["job_id"], r["state"], r["ref"], loads(r["result"]))

    def effect_start(self, key: str, job_id: int, ref: str | None, now: float) -> None:
        self._x("effect_start", {"key": key, "job_id": job_id, "ref": ref, "now": now})

    def effect_done(self, key: str, result: JSON, now: float) -> None:
        self._x("effect_done", {"key": key, "result": dumps(result), "now": now})

    def effect_fail(self, key: str, failure: JSON, now: float) -> None:
        self._x("effect_fail", {"key": key, "result": dumps(failure), "now": now})

    def effect_drop(self, key: str) -> None:
        self._x("effect_drop", {"key": key})

    def effects_clear_unfinished(self, job_ids: list[int]) -> None:
        self._x("effects_clear_unfinished", {"ids": dumps(job_ids)})

    def effects_live_refs(self) -> list[str]:
        return [r[0] for r in self._x("effects_live_refs")]

    # -- workers and meta -----------------------------------------------------------------------

    def meta_get(self, key: str) -> str | None:
        row = self._x("meta_get", {"key": key}).fetchone()
        return None if row is None else str(row[0])

    def meta_set(self, key: str, value: str) -> None:
        self._x("meta_set", {"key": key, "value": value})


class _Rows:
    """A statement's rows: a failure while they are read (an ``INSERT … RETURNING`` on a full
    disk fails at its first row) is a ``StoreError`` like a failure to execute."""

    def __init__(self, cursor: sqlite3.Cursor, path: Path) -> None:
        self._cursor = cursor
        self._path = path

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        try:
            return self._cursor.fetchone()
        except sqlite3.OperationalError as exc:
            raise _translate(exc, self._path) from exc

    def fetchall(self) -> list[Any]:
        try:
            return self._cursor.fetchall()
        except sqlite3.OperationalError as exc:
            raise _translate(exc, self._path) from exc

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


def _conforms(store: SqliteStore) -> Store:
    """Never called: mypy proves here that ``SqliteStore`` implements the ``Store`` port."""
    return store


def _statements(script: str) -> list[str]:
    """Split a migration into statements (migrations hold no triggers, so ';' ends each)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _check_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"data dir {folder} cannot be created: {exc.strerror}") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"data dir {folder} is not writable")


def _translate(exc: sqlite3.DatabaseError, path: Path) -> StoreError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return DatabaseLocked(f"database {path} is locked by another process; try again")
    if isinstance(exc, sqlite3.OperationalError) and "readonly" not in text:
        return StoreError(f"database {path}: {text}")
    return DatabaseCorrupt(
        f"database {path} is damaged or not a Steward database ({text}); "
        "restore it from a backup")
