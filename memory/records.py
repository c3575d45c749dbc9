"""Archival memory rows: the values, input checks, and ``MemoryRepo`` over the named queries."""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict, get_args

from engine.store.base import Store
from memory.errors import InvalidMemory, MemoryNotFound

Category = Literal["fact", "decision", "procedure", "entity", "episode", "preference"]
Trust = Literal["command", "data"]
CATEGORIES: tuple[Category, ...] = get_args(Category)
TRUSTS: tuple[Trust, ...] = get_args(Trust)

MAX_TEXT_BYTES = 8 * 1024
"""The cap on one memory: a memory is a fact, not a document. Longer text is refused with a
message saying to split or summarise it (working memory and compaction do that)."""


@dataclass(frozen=True, slots=True)
class Memory:
    """One archival memory as stored in SQLite."""

    id: int
    category: Category
    text: str
    importance: float
    source: str | None
    trust: Trust
    created_at: float
    valid_to: float | None
    superseded_by: int | None
    recall_count: int
    last_recalled: float | None

    @property
    def live(self) -> bool:
        return self.valid_to is None


@dataclass(frozen=True, slots=True)
class NewMemory:
    """A checked memory on its way in: text normalised, category and trust known."""

    text: str
    category: Category
    importance: float
    source: str | None
    trust: Trust
    created_at: float
    supersedes: int | None = None

    @property
    def text_hash(self) -> str:
        return text_hash(self.text)

    def params(self) -> dict[str, object]:
        return {"category": self.category, "text": self.text, "text_hash": self.text_hash,
                "importance": self.importance, "source": self.source, "trust": self.trust,
                "created_at": self.created_at}

    def row(self) -> tuple[object, ...]:
        return (self.category, self.text, self.text_hash, self.importance, self.source,
                self.trust, self.created_at)


_SPACE = re.compile(r"\s+")


def text_hash(text: str) -> str:
    """The exact-duplicate key: case, spacing and a final full stop do not count."""
    key = _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip().rstrip(".").casefold()
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def clean_text(text: str | bytes) -> str:
    """Memory text as stored: UTF-8 only (bytes that are not UTF-8 are refused, not guessed
    at), NFC-normalised, without NUL characters or surrounding space, at most 8 KB."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMemory(
                f"memory text is not valid UTF-8 (bad byte at offset {exc.start})") from exc
    if not isinstance(text, str):
        raise InvalidMemory(f"memory text must be a string, not {type(text).__name__}")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidMemory("memory text holds characters that are not valid Unicode") from exc
    text = unicodedata.normalize("NFC", text.replace("\x00", "")).strip()
    if not text:
        raise InvalidMemory("memory text is empty")
    if size > MAX_TEXT_BYTES:
        raise InvalidMemory(f"memory text is {size:,} bytes; the limit is {MAX_TEXT_BYTES:,}: "
                            "split it or summarise it")
    return text


def check_new(text: str | bytes, category: str, importance: float, source: str | None,
              trust: str, created_at: float, supersedes: int | None) -> NewMemory:
    """A ``NewMemory`` from caller input, or ``InvalidMemory`` saying what is wrong."""
    if category not in CATEGORIES:
        raise InvalidMemory(f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
    if trust not in TRUSTS:
        raise InvalidMemory(f"unknown trust {trust!r}; use 'command' or 'data'")
    if isinstance(importance, bool) or not isinstance(importance, int | float) \
            or not 0.0 <= float(importance) <= 1.0:
        raise InvalidMemory(f"importance must be a number from 0 to 1, not {importance!r}")
    if not math.isfinite(created_at):
        raise InvalidMemory(f"created_at must be a finite timestamp, not {created_at!r}")
    if supersedes is not None and (isinstance(supersedes, bool) or not isinstance(supersedes, int)):
        raise InvalidMemory(f"supersedes must be a memory id, not {supersedes!r}")
    return NewMemory(clean_text(text), category, float(importance), source, trust,
                     float(created_at), supersedes)


def _memory(r: sqlite3.Row) -> Memory:
    return Memory(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10])


class MemoryRepo:
    """Archival memory's rows, one method per named query in ``queries/memory.sql``. Calls are
    short and synchronous, like the store's; writes that belong together run inside one
    ``store.transaction()`` opened by the caller."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(self, new: NewMemory) -> int:
        return int(self.store.run("memory_insert", new.params())[0][0])

    def insert_many(self, news: list[NewMemory]) -> list[int]:
        """Many rows in one statement run; their ids, in order (the bulk import path)."""
        with self.store.transaction():
            before = int(self.store.run("memory_max_id")[0][0])
            self.store.run_many("memory_insert_bulk", [n.row() for n in news])
        # INTEGER PRIMARY KEY hands out max+1 and we held the write lock: the ids are contiguous.
        return list(range(before + 1, before + 1 + len(news)))

    def get(self, memory_id: int) -> Memory:
        rows = self.store.run("memory_get", {"id": memory_id})
        if not rows:
            raise MemoryNotFound(memory_id)
        return _memory(rows[0])

    def get_many(self, ids: list[int]) -> dict[int, Memory]:
        if not ids:
            return {}
        rows = self.store.run("memory_get_many", {"ids": json.dumps(ids)})
        return {r[0]: _memory(r) for r in rows}

    def live_by_hashes(self, hashes: list[str]) -> dict[str, int]:
        """{text hash: id} for live memories having one of ``hashes``."""
        rows = self.store.run("memory_live_by_hashes", {"hashes": json.dumps(hashes)})
        return {r[1]: r[0] for r in rows}

    def supersede(self, memory_id: int, by: int, now: float) -> bool:
        """End a live memory, pointing at its replacement; False if it was not live."""
        return bool(self.store.run("memory_supersede", {"id": memory_id, "by": by, "now": now}))

    def forget(self, memory_id: int, now: float) -> bool:
        """End a live memory without a replacement; False if it was not live."""
        return bool(self.store.run("memory_forget", {"id": memory_id, "now": now}))

    def raise_importance(self, memory_id: int, importance: float) -> None:
        self.store.run("memory_raise_importance", {"id": memory_id, "importance": importance})

    def record_recalls(self, ids: list[int], now: float) -> None:
        """Count one recall for each memory a search returned, in one transaction."""
        if ids:
            with self.store.transaction():
                self.store.run_many("memory_recalled", [{"id": i, "now": now} for i in ids])

    def count_live(self) -> int:
        return int(self.store.run("memory_count_live")[0][0])

    def live_ids(self) -> list[int]:
        return [r[0] for r in self.store.run("memory_live_ids")]

    def live_page(self, after: int, limit: int) -> list[tuple[int, Category, str]]:
        """(id, category, text) of live memories with ids above ``after``, in id order."""
        rows = self.store.run("memory_live_page", {"after": after, "limit": limit})
        return [(r[0], r[1], r[2]) for r in rows]

    def recent(self, limit: int) -> list[Memory]:
        """The newest live memories first."""
        return [_memory(r) for r in self.store.run("memory_recent", {"limit": limit})]


class MemoryInput(TypedDict, total=False):
    """One memory for ``add_many`` or a line of ``import_jsonl``; only ``text`` is required."""

    text: str
    category: Category
    importance: float
    source: str | None
    trust: Trust
    created_at: float
    supersedes: int | None


def parse_line(raw: bytes) -> dict[str, Any]:
    """One line of a JSON Lines import as a mapping, or ``InvalidMemory`` saying why not."""
    try:
        item = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidMemory(f"not UTF-8 (bad byte at offset {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise InvalidMemory(f"not JSON ({exc.msg})") from exc
    if not isinstance(item, dict):
        raise InvalidMemory("not a JSON object")
    return item


def from_input(item: Mapping[str, Any], now: float) -> NewMemory:
    """A ``NewMemory`` from a ``MemoryInput``-shaped mapping (``add_many``, an import line)."""
    if not isinstance(item, Mapping) or "text" not in item:
        raise InvalidMemory("a memory needs a 'text'")
    return check_new(item["text"], item.get("category", "fact"), item.get("importance", 0.5),
                     item.get("source"), item.get("trust", "command"),
                     timestamp(item.get("created_at"), now), item.get("supersedes"))


def timestamp(value: Any, default: float) -> float:
    """Epoch seconds, or an ISO 8601 string (a naive one is taken as UTC)."""
    if value is None:
        return default
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidMemory(f"created_at {value!r} is not a date") from exc
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidMemory(f"created_at must be a timestamp, not {value!r}")
    return float(value)
