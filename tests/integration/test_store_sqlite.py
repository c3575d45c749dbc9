"""SQLite specifics: opening races, WAL, locking, query plans."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from engine.errors import DatabaseLocked
from engine.store.sql import load_migrations, load_queries, parse_named
from engine.store.sqlite import SqliteStore


def test_processes_opening_a_fresh_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    stores: list[SqliteStore] = []

    def open_it() -> None:
        try:
            stores.append(SqliteStore.open(tmp_path / "steward.db"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    latest = max(v for v, _ in load_migrations())
    assert {s.schema_version for s in stores} == {latest}


def test_wal_mode_and_busy_timeout(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "steward.db")
    conn = sqlite3.connect(tmp_path / "steward.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    store.close()


def test_a_lock_held_past_the_timeout_is_a_clear_error(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "steward.db")
    store._conn.execute("PRAGMA busy_timeout = 50")
    holder = sqlite3.connect(tmp_path / "steward.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(DatabaseLocked, match="locked by another process"), store.transaction():
        pass
    holder.execute("ROLLBACK")
    holder.close()
    store.close()


def test_hot_queries_use_their_indexes(tmp_path: Path) -> None:
    """A full scan on the claim path costs more than the rest of the loop together."""
    store = SqliteStore.open(tmp_path / "steward.db")
    queries = load_queries()
    named = {k: None for k in ("n", "ids", "now", "lease", "id")}
    for name in ("claim", "promote_due", "next_due", "expired_leases", "candidates",
                 "children_of_many", "finish_done", "decrement_pending"):
        sql = queries[name]
        params = (None,) * sql.count("?") if "?" in sql else named
        plan = " | ".join(r[3] for r in store._conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "SCAN jobs" not in plan, f"{name}: {plan}"
    store.close()


def test_named_queries_refuse_duplicates() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        parse_named("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;")
