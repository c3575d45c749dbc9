"""Archival memory: canonical rows in SQLite, a searchable LanceDB copy, hybrid ranked recall."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.store.base import Store
from memory.embeddings import Embedder, Vectors
from memory.errors import ImportFailed, InvalidMemory, MemoryFault
from memory.lance import LANCE_ERRORS, Found, LanceIndex, brief
from memory.ranking import Candidate, Entry, RankingConfig, merge_clusters, rank, rrf
from memory.records import (
    CATEGORIES,
    Category,
    Memory,
    MemoryInput,
    MemoryRepo,
    NewMemory,
    Trust,
    check_new,
    from_input,
    parse_line,
)
from memory.writer import AddResult, Outcome, Writer, WriterConfig

__all__ = [
    "AddResult", "ArchivalConfig", "ArchivalMemory", "Category", "Hit", "ImportReport",
    "MaintenanceReport", "Memory", "MemoryInput", "Outcome", "Trust",
]


log = logging.getLogger("steward.memory")

MAX_QUERY_CHARS = 2_000
MAINTAINED_KEY = "memory.maintained_through"


@dataclass(frozen=True, slots=True)
class Hit:
    """A recalled memory: its final score and its similarity (the cosine to the query,
    min-max-normalised over the candidates: 1 for the closest, 0 for the farthest)."""

    memory: Memory
    score: float
    similarity: float


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did, by outcome; ``failed`` lists (line number, reason)."""

    added: int = 0
    duplicate: int = 0
    merged: int = 0
    superseded: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.added + self.duplicate + self.merged + self.superseded + len(self.failed)


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What ``maintain`` did: near-duplicates merged, index rows repaired, versions pruned,
    whether the approximate vector index exists, and the live row count."""

    merged: int
    repaired: int
    versions_before: int
    versions_after: int
    ann_index: bool
    rows: int


@dataclass(frozen=True, slots=True)
class ArchivalConfig:
    """Tuning for archival memory. ``candidates`` rows come from each index; the ``pool`` best
    by reciprocal-rank fusion are rescored. The approximate vector index is built past
    ``ann_min_rows`` rows."""

    candidates: int = 40
    pool: int = 20
    ann_min_rows: int = 50_000
    refresh_s: float = 5.0
    ranking: RankingConfig = field(default_factory=RankingConfig)
    writer: WriterConfig = field(default_factory=WriterConfig)


class ArchivalMemory:
    """Long-term memory. Rows are canonical in SQLite and written once; LanceDB holds the
    searchable copy and is rebuilt from SQLite when it is missing, damaged, or of another
    embedding model. All writes go through one batching ``Writer``."""

    def __init__(self, store: Store, embedder: Embedder, folder: Path,
                 clock: Callable[[], float] = time.time,
                 config: ArchivalConfig = ArchivalConfig()) -> None:
        self.repo = MemoryRepo(store)
        self.embedder = embedder
        self.index = LanceIndex(folder, embedder.dim, embedder.model_id, config.refresh_s)
        self.clock = clock
        self.config = config
        self.writer = Writer(self.repo, self.index, embedder, clock, config.writer)
        self._ready_lock = asyncio.Lock()
        self._ready = False

    async def open(self) -> None:
        """Open the index, rebuilding or repairing it from SQLite if needed (every other
        method calls this first; calling it early just moves the wait)."""
        if self._ready:
            return
        async with self._ready_lock, self.writer.lock:
            if not self._ready:
                await self.writer.recover()
                self._ready = True

    async def close(self) -> None:
        """Finish queued writes and stop the writer."""
        await self.writer.close()

    # -- writing --------------------------------------------------------------------------------

    async def add(self, text: str | bytes, category: Category = "fact", importance: float = 0.5,
                  source: str | None = None, trust: Trust = "command",
                  created_at: float | None = None, supersedes: int | None = None) -> AddResult:
        """Remember one thing; see ``AddResult`` for what can become of it."""
        when = self.clock() if created_at is None else created_at
        new = check_new(text, category, importance, source, trust, when, supersedes)
        [result] = await self._write([new])
        return result

    async def add_many(self, items: Iterable[MemoryInput | NewMemory]) -> list[AddResult]:
        """Remember many things through the one batching writer. Every item is checked before
        any is written; an item that then fails (a ``supersedes`` that is no longer valid)
        raises after the others are written."""
        news = [self._checked(item, n) for n, item in enumerate(items)]
        return await self._write(news)

    def _checked(self, item: MemoryInput | NewMemory, n: int) -> NewMemory:
        if isinstance(item, NewMemory):
            return item
        try:
            return from_input(item, self.clock())
        except InvalidMemory as exc:
            raise InvalidMemory(f"item {n}: {exc}") from exc

    async def _write(self, news: list[NewMemory]) -> list[AddResult]:
        await self.open()
        return list(await asyncio.gather(*self.writer.submit(news)))

    async def forget(self, memory_id: int) -> None:
        """End a memory (``valid_to`` is set; the row stays); it no longer comes up in search."""
        await self.open()
        if not self.repo.forget(memory_id, self.clock()):
            self.repo.get(memory_id)  # raises MemoryNotFound; otherwise it had already ended
            return
        await self.writer.drop(memory_id)

    # -- reading --------------------------------------------------------------------------------

    async def get(self, memory_id: int) -> Memory:
        return self.repo.get(memory_id)

    def count(self) -> int:
        """How many memories are live."""
        return self.repo.count_live()

    async def search(self, query: str | bytes, limit: int = 10,
                     categories: Sequence[Category] | None = None) -> list[Hit]:
        """The live memories best matching ``query``: candidates from vector and full-text
        search, fused, rescored (``ranking.rank``); each returned memory counts a recall."""
        query = _clean_query(query)
        wanted = _categories(categories)
        if not query or limit <= 0:
            return []
        await self.open()
        try:
            hits = await self._search(query, limit, wanted)
        except LANCE_ERRORS as exc:
            log.warning("memory index failed (%s); repairing it from SQLite", brief(exc))
            async with self.writer.lock:
                await self.writer.recover()
            hits = await self._search(query, limit, wanted)
        self.repo.record_recalls([h.memory.id for h in hits], self.clock())
        return hits

    async def _search(self, query: str, limit: int, wanted: list[str] | None) -> list[Hit]:
        k = max(self.config.candidates, limit)
        # Full text needs no embedding: it runs while the query is embedded.
        text_search = asyncio.ensure_future(self.index.search_text(query, k, wanted))
        try:
            vector = (await asyncio.to_thread(self.embedder.embed, [query]))[0]
            by_vector = await self.index.search_vector(vector, k, wanted)
        except BaseException:
            text_search.cancel()
            raise
        by_text = await text_search
        pool = rrf([[f.id for f in by_vector], [f.id for f in by_text]], self.config.ranking.rrf_k)
        return self._rescore(vector, pool[:max(self.config.pool, limit)], by_vector,
                             by_text)[:limit]

    def _rescore(self, vector: Vectors, pool: list[int], by_vector: list[Found],
                 by_text: list[Found]) -> list[Hit]:
        vectors = {f.id: f.vector for f in by_vector + by_text}
        bm25 = {f.id: f.score for f in by_text}
        rows = {i: m for i, m in self.repo.get_many(pool).items() if m.live}
        candidates = [
            Candidate(i, float(np.dot(vector, vectors[i])), m.created_at, m.importance,
                      m.recall_count, m.last_recalled, bm25.get(i, 0.0))
            for i in pool if (m := rows.get(i)) is not None]
        ranked = rank(candidates, self.clock(), self.config.ranking)
        return [Hit(rows[s.id], s.score, s.similarity) for s in ranked]

    # -- upkeep ---------------------------------------------------------------------------------

    async def reindex(self) -> int:
        """Rebuild the LanceDB copy from SQLite with the current embedder (after a change of
        model, or to be sure); returns the number of memories indexed."""
        await self.open()
        async with self.writer.lock:
            rows = await self.writer.refill()
            await self.index.ensure_ann(self.config.ann_min_rows)
            await self.writer.optimize()
        return rows

    async def maintain(self) -> MaintenanceReport:
        """Merge near-duplicates that slipped past the writer (cluster by cosine and
        ``ranking.judge``), repair the index from SQLite, build the approximate vector index
        past ``ann_min_rows``, then ``optimize`` (compaction, index update, old versions)."""
        await self.open()
        async with self.writer.lock:
            merged = await self._merge_duplicates()
            added, deleted = await self.writer.sync()
            ann = await self.index.ensure_ann(self.config.ann_min_rows)
            report = await self.writer.optimize()
        return MaintenanceReport(merged, added + deleted, report.versions_before,
                                 report.versions_after, ann, self.count())

    async def _merge_duplicates(self) -> int:
        """Check memories made since the last run against their neighbours; in each cluster of
        near-duplicates keep the richest and supersede the rest by it."""
        store = self.repo.store
        after = int(store.meta_get(MAINTAINED_KEY) or 0)
        ended = 0
        while page := self.repo.live_page(after, self.config.writer.page_rows):
            ids = [i for i, _, _ in page]
            vectors = await self.index.vectors_of(ids)
            kept = [i for i in ids if i in vectors]
            found = await self.index.neighbours(np.array([vectors[i] for i in kept]),
                                                 self.config.writer.neighbours)
            ended += await self._supersede_clusters(kept, vectors, found)
            after = ids[-1]
        store.meta_set(MAINTAINED_KEY, str(after))
        return ended

    async def _supersede_clusters(self, ids: list[int], vectors: dict[int, Vectors],
                                  found: list[list[Found]]) -> int:
        pairs = [(i, f.id, float(np.dot(vectors[i], f.vector)))
                 for i, fs in zip(ids, found, strict=True) for f in fs if f.id != i]
        rows = self.repo.get_many(sorted({i for p in pairs for i in p[:2]}))
        entries = {i: Entry(i, m.category, m.text, m.importance, m.trust)
                   for i, m in rows.items() if m.live}
        merges = merge_clusters(pairs, entries)
        now = self.clock()
        with self.repo.store.transaction():
            for keeper, others, importance in merges:
                self.repo.raise_importance(keeper, importance)
                for other in others:
                    self.repo.supersede(other, keeper, now)
        ended = [other for _, others, _ in merges for other in others]
        await self.index.delete(ended)
        return len(ended)

    async def import_jsonl(self, path: Path) -> ImportReport:
        """Import memories from JSON Lines: ``text``, ``category``, ``importance``, optional
        ``created_at`` (epoch seconds or ISO 8601), ``source``, ``trust``, ``supersedes`` and
        ``id``. A ``supersedes`` naming the ``id`` of an earlier line means that line's memory;
        otherwise it is an id in this store. Bad lines are reported, not fatal."""
        await self.open()
        run = _Import(self)
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ImportFailed(f"cannot read {path}: {exc.strerror}") from exc
        with handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    await run.line(number, raw)
        await run.flush()
        return run.report()


class _Import:
    """One import: lines are written in chunks through the writer, remembering which new id
    each line's own ``id`` became, so later lines can supersede earlier ones."""

    CHUNK = 256

    def __init__(self, memory: ArchivalMemory) -> None:
        self.memory = memory
        self.ids: dict[Any, int] = {}
        self.pending: list[tuple[int, Any, NewMemory]] = []
        self.counts: Counter[str] = Counter()
        self.failed: list[tuple[int, str]] = []

    async def line(self, number: int, raw: bytes) -> None:
        try:
            item = parse_line(raw)
            own_id = item.pop("id", None)
            target = item.get("supersedes")
            if target is not None and any(target == p[1] for p in self.pending):
                await self.flush()
            if target is not None and target in self.ids:
                item["supersedes"] = self.ids[target]
            new = from_input(item, self.memory.clock())
        except InvalidMemory as exc:
            self.failed.append((number, str(exc)))
            return
        self.pending.append((number, own_id, new))
        if len(self.pending) >= self.CHUNK:
            await self.flush()

    async def flush(self) -> None:
        chunk, self.pending = self.pending, []
        if not chunk:
            return
        futures = self.memory.writer.submit([new for _, _, new in chunk])
        results = await asyncio.gather(*futures, return_exceptions=True)
        for (number, own_id, _), result in zip(chunk, results, strict=True):
            if isinstance(result, AddResult):
                self.counts[result.outcome] += 1
                if own_id is not None:
                    self.ids[own_id] = result.id
            elif isinstance(result, MemoryFault):
                self.failed.append((number, str(result)))
            else:
                raise result

    def report(self) -> ImportReport:
        c = self.counts
        return ImportReport(c["added"], c["duplicate"], c["merged"], c["superseded"],
                            sorted(self.failed))


def _clean_query(query: str | bytes) -> str:
    """A query as searched: bytes decoded as UTF-8 (a query is not stored, so undecodable
    bytes are replaced rather than refused), spacing collapsed, length capped."""
    if isinstance(query, bytes):
        query = query.decode("utf-8", errors="replace")
    return " ".join(str(query).split())[:MAX_QUERY_CHARS]


def _categories(categories: Sequence[str] | None) -> list[str] | None:
    if not categories:
        return None
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise InvalidMemory(f"unknown category {unknown[0]!r}; use one of {', '.join(CATEGORIES)}")
    return list(categories)
