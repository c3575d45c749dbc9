"""The one batching writer of archival memory: every row and index write passes through it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import numpy as np

from memory.embeddings import Embedder, Vectors
from memory.errors import AlreadySuperseded, InvalidMemory, MemoryFault, MemoryNotFound
from memory.lance import LANCE_ERRORS, Found, LanceIndex, OptimizeReport, brief
from memory.ranking import judge, richer
from memory.records import Memory, MemoryRepo, NewMemory

log = logging.getLogger("steward.memory")

Outcome = Literal["added", "duplicate", "merged", "superseded"]
Ref = int | tuple[str, int]
"""A stored memory's id, or ``("batch", n)`` for the n-th memory of the batch being written."""
MERGE_BUMP = 0.05
"""How much a near-duplicate raises the importance of the memory it repeats."""


@dataclass(frozen=True, slots=True)
class AddResult:
    """What became of one memory handed in: ``added`` (a new row), ``duplicate`` (the same
    text is already stored: ``id`` is that row), ``merged`` (a near-duplicate: ``id`` is the
    surviving row, see ``Writer``), ``superseded`` (a new row that replaced an older one)."""

    id: int
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class WriterConfig:
    max_batch: int = 256
    neighbours: int = 5
    optimize_every_writes: int = 20
    optimize_every_rows: int = 5_000
    keep_versions_s: float = 600.0
    page_rows: int = 2_000


@dataclass
class _Add:
    new: NewMemory
    done: asyncio.Future[AddResult]


@dataclass
class _Drop:
    id: int
    done: asyncio.Future[None]


@dataclass(frozen=True, slots=True)
class _Plan:
    """The decision for one new memory: its outcome, whether it becomes a row, the memory it
    repeats or replaces, and the importance to give (0: leave it)."""

    outcome: Outcome
    insert: bool
    target: Ref | None = None
    importance: float = 0.0


@dataclass
class _Known:
    """A live memory a new one may repeat or contradict: a stored row or an earlier batch item."""

    ref: Ref
    text: str
    category: str
    trust: str
    created_at: float
    importance: float
    vector: Vectors


class Writer:
    """Drains a queue in batches: one embedding call, one SQLite transaction and at most two
    LanceDB writes (an append and a delete) per batch, however many callers wrote at once.

    Exact duplicates (same text hash) are dropped, raising the stored importance to the higher
    of the two. A near-duplicate (``ranking.judge`` says ``duplicate``) is ``merged``: if it says
    more (``ranking.richer``) it is stored and the old row superseded by it, else the old row
    stays and its importance rises by ``MERGE_BUMP``. A contradiction, or an explicit
    ``supersedes``, stores the new row and supersedes the old one.

    Text from DATA never retires a memory: an explicit ``supersedes`` from DATA is refused
    (``InvalidMemory``), a DATA contradiction or a richer DATA near-duplicate is stored beside
    the memory it resembles (``added``), and DATA reinforces only memories from DATA."""

    def __init__(self, repo: MemoryRepo, index: LanceIndex, embedder: Embedder,
                 clock: Callable[[], float], config: WriterConfig) -> None:
        self.repo = repo
        self.index = index
        self.embedder = embedder
        self.clock = clock
        self.config = config
        self.lock = asyncio.Lock()
        self.dirty = False
        self._queue: asyncio.Queue[_Add | _Drop] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._writes = 0
        self._rows = 0

    # -- the queue ------------------------------------------------------------------------------

    def submit(self, news: list[NewMemory]) -> list[asyncio.Future[AddResult]]:
        loop = asyncio.get_running_loop()
        ops = [_Add(n, loop.create_future()) for n in news]
        self._enqueue(ops)
        return [op.done for op in ops]

    def drop(self, memory_id: int) -> asyncio.Future[None]:
        """Remove an ended memory from the index (SQLite already ended it)."""
        op = _Drop(memory_id, asyncio.get_running_loop().create_future())
        self._enqueue([op])
        return op.done

    def _enqueue(self, ops: list[_Add] | list[_Drop]) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and self._task.get_loop() is not loop:
            # The loop that ran the writer is gone (a CLI runs one loop per command).
            self._queue, self._task, self.lock = asyncio.Queue(), None, asyncio.Lock()
        for op in ops:
            self._queue.put_nowait(op)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="memory-writer")

    async def close(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is not None and self._task.get_loop() is not asyncio.get_running_loop():
            self._task = None  # its loop has ended, and the task with it
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            batch: list[_Add | _Drop] = [await self._queue.get()]
            while len(batch) < self.config.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with self.lock:
                    await self._apply_or_repair(batch)
            except Exception as exc:  # the writer's boundary: the callers get the failure
                for op in batch:
                    if not op.done.done():
                        op.done.set_exception(exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _apply_or_repair(self, batch: list[_Add | _Drop]) -> None:
        """Apply a batch; if the index fails before anything was stored, rebuild and retry."""
        try:
            await self._apply(batch)
        except LANCE_ERRORS as exc:
            log.warning("memory index failed (%s); repairing it from SQLite", brief(exc))
            self.dirty = True
            await self._apply(batch)

    async def _apply(self, batch: list[_Add | _Drop]) -> None:
        if self.dirty:
            await self.recover()
            self.dirty = False
        adds = [op for op in batch if isinstance(op, _Add)]
        drops = {op.id for op in batch if isinstance(op, _Drop)}
        vectors = await asyncio.to_thread(self.embedder.embed, [op.new.text for op in adds])
        plans = await self._plan(adds, vectors)
        results, ended = self._commit(adds, plans)
        await self._publish(adds, plans, results, vectors, sorted(ended | drops))
        for op, result in zip(adds, results, strict=True):
            if isinstance(result, AddResult):
                op.done.set_result(result)
            else:
                op.done.set_exception(result)
        for dropped in batch:
            if isinstance(dropped, _Drop):
                dropped.done.set_result(None)
        await self._maybe_optimize()

    # -- planning -------------------------------------------------------------------------------

    async def _plan(self, adds: list[_Add], vectors: Vectors) -> list[_Plan | MemoryFault]:
        news = [op.new for op in adds]
        by_hash: dict[str, Ref] = dict(self.repo.live_by_hashes(sorted({n.text_hash
                                                                         for n in news})))
        found = await self.index.neighbours(vectors, self.config.neighbours)
        wanted = {f.id for fs in found for f in fs} | {n.supersedes for n in news if n.supersedes}
        wanted |= {i for i in by_hash.values() if isinstance(i, int)}
        rows = {i: m for i, m in self.repo.get_many(sorted(wanted)).items() if m.live}
        plans: list[_Plan | MemoryFault] = []
        known: list[_Known] = []
        ending: set[Ref] = set()
        for n, new in enumerate(news):
            plan = self._decide(new, vectors[n], by_hash, rows, found[n], known, ending)
            plans.append(plan)
            if isinstance(plan, _Plan) and plan.insert:
                known.append(_Known(("batch", n), new.text, new.category, new.trust,
                                    new.created_at, new.importance, vectors[n]))
                by_hash[new.text_hash] = ("batch", n)
                if plan.target is not None:
                    ending.add(plan.target)
        return plans

    def _decide(self, new: NewMemory, vector: Vectors, by_hash: dict[str, Ref],
                rows: dict[int, Memory], found: list[Found], known: list[_Known],
                ending: set[Ref]) -> _Plan | MemoryFault:
        if new.supersedes is not None:
            return self._explicit(new, rows, ending)
        same = by_hash.get(new.text_hash)
        if same is not None and same not in ending:
            old = rows.get(same) if isinstance(same, int) else None
            keep = old is None or new.trust == "command" or old.trust == "data"
            return _Plan("duplicate", False, same, new.importance if keep else 0.0)
        near = [_Known(f.id, m.text, m.category, m.trust, m.created_at, m.importance, f.vector)
                for f in found if (m := rows.get(f.id)) is not None and f.id not in ending]
        return _relate(new, vector, near + [k for k in known if k.ref not in ending])

    def _explicit(self, new: NewMemory, rows: dict[int, Memory],
                  ending: set[Ref]) -> _Plan | MemoryFault:
        target = new.supersedes
        assert target is not None  # noqa: S101 - the caller checked
        if new.trust == "data":
            return InvalidMemory(f"text from DATA cannot supersede memory {target}: DATA never "
                                 "retires a memory; store it without supersedes")
        if target in rows and target not in ending:
            return _Plan("superseded", True, target)
        try:
            old = self.repo.get(target)
        except MemoryNotFound as exc:
            return exc
        by = f" by memory {old.superseded_by}" if old.superseded_by else ""
        return AlreadySuperseded(f"memory {target} is no longer valid (ended{by})")

    # -- writing --------------------------------------------------------------------------------

    def _commit(self, adds: list[_Add], plans: list[_Plan | MemoryFault]
                ) -> tuple[list[AddResult | MemoryFault], set[int]]:
        """Apply the plans in one SQLite transaction; the results, and the stored ids ended."""
        results: list[AddResult | MemoryFault] = []
        ended: set[int] = set()
        now = self.clock()
        with self.repo.store.transaction():
            for op, plan in zip(adds, plans, strict=True):
                if isinstance(plan, MemoryFault):
                    results.append(plan)
                    continue
                target = _resolve(plan.target, results)
                results.append(self._write(op.new, plan, target, now, ended))
        return results, ended

    def _write(self, new: NewMemory, plan: _Plan, target: int | None, now: float,
               ended: set[int]) -> AddResult:
        if not plan.insert:
            assert target is not None  # noqa: S101 - a plan that inserts nothing has a target
            if plan.importance:
                self.repo.raise_importance(target, plan.importance)
            return AddResult(target, plan.outcome)
        if plan.importance:
            new = dataclasses.replace(new, importance=plan.importance)
        memory_id = self.repo.insert(new)
        if target is not None and self.repo.supersede(target, memory_id, now):
            ended.add(target)
        return AddResult(memory_id, plan.outcome)

    async def _publish(self, adds: list[_Add], plans: list[_Plan | MemoryFault],
                       results: list[AddResult | MemoryFault], vectors: Vectors,
                       ended: list[int]) -> None:
        """Mirror the batch into LanceDB. SQLite already holds it: if this fails, the index is
        marked dirty and repaired from SQLite before the next batch."""
        rows = [(n, r.id) for n, (p, r) in enumerate(zip(plans, results, strict=True))
                if isinstance(p, _Plan) and p.insert and isinstance(r, AddResult)
                and r.id not in ended]
        live = [n for n, _ in rows]
        try:
            await self.index.add([i for _, i in rows], [adds[n].new.category for n in live],
                                 [adds[n].new.text for n in live], vectors[live])
            await self.index.delete(ended)
        except LANCE_ERRORS as exc:
            log.warning("memory index write failed (%s); it will be repaired from SQLite",
                        brief(exc))
            self.dirty = True
            return
        self._writes += bool(live) + bool(ended)
        self._rows += len(live)

    async def _maybe_optimize(self) -> None:
        if self._writes >= self.config.optimize_every_writes \
                or self._rows >= self.config.optimize_every_rows:
            try:
                await self.optimize()
            except LANCE_ERRORS as exc:
                log.warning("memory index optimize failed (%s); will try again later", brief(exc))

    async def optimize(self) -> OptimizeReport:
        """Compact, update the indexes, drop old versions (caller holds ``lock`` or is the
        writer)."""
        report = await self.index.optimize(timedelta(seconds=self.config.keep_versions_s))
        self._writes = self._rows = 0
        return report

    # -- repair ---------------------------------------------------------------------------------

    async def recover(self) -> None:
        """(Re)open the index and bring it in line with SQLite: rebuilt if it is missing,
        damaged or of another model, else synced (caller holds ``lock`` or is the writer)."""
        state = await self.index.open()
        if state == "ok":
            added, deleted = await self.sync()
            if added or deleted:
                log.warning("memory index repaired: %d rows added, %d removed", added, deleted)
        else:
            rows = await self.refill()
            log.info("memory index built from SQLite: %d memories", rows)

    async def sync(self) -> tuple[int, int]:
        """Make the index hold exactly SQLite's live memories: embed and add the missing ones,
        delete the ended or doubled ones. Returns (added, deleted)."""
        indexed = Counter(await self.index.ids())
        live = set(self.repo.live_ids())
        doubled = {i for i, n in indexed.items() if n > 1}
        extra = sorted((indexed.keys() - live) | doubled)
        await self.index.delete(extra)
        missing = sorted((live - indexed.keys()) | (doubled & live))
        await self._embed_into_index(missing)
        self.dirty = False
        return len(missing), len(extra)

    async def refill(self) -> int:
        """Rebuild the index from SQLite: every live memory re-embedded with this embedder."""
        await self.index.reset()
        after, total = 0, 0
        while page := self.repo.live_page(after, self.config.page_rows):
            texts = [t for _, _, t in page]
            vectors = await asyncio.to_thread(self.embedder.embed, texts)
            await self.index.add([i for i, _, _ in page], [c for _, c, _ in page], texts, vectors)
            after, total = page[-1][0], total + len(page)
        self.dirty = False
        return total

    async def _embed_into_index(self, ids: list[int]) -> None:
        step = self.config.page_rows
        for start in range(0, len(ids), step):
            rows = self.repo.get_many(ids[start:start + step])
            chosen = [rows[i] for i in ids[start:start + step] if i in rows]
            vectors = await asyncio.to_thread(self.embedder.embed, [m.text for m in chosen])
            await self.index.add([m.id for m in chosen], [m.category for m in chosen],
                                 [m.text for m in chosen], vectors)


def _resolve(target: int | tuple[str, int] | None,
             results: list[AddResult | MemoryFault]) -> int | None:
    """A plan's target as a stored id: an earlier batch item resolves to the row it became."""
    if isinstance(target, tuple):
        earlier = results[target[1]]
        return earlier.id if isinstance(earlier, AddResult) else None
    return target


def _relate(new: NewMemory, vector: Vectors, near: list[_Known]) -> _Plan:
    """Judge a new memory against its nearest live neighbours, most similar first."""
    scored = sorted(((float(np.dot(vector, k.vector)), k) for k in near), key=lambda t: -t[0])
    for cosine, old in scored:
        verdict = judge(new.text, old.text, cosine, new.category == old.category)
        if verdict == "distinct":
            continue
        retires = new.trust == "command"
        if verdict == "contradiction":
            if retires and new.created_at >= old.created_at:
                return _Plan("superseded", True, old.ref)
            continue
        if richer(new.text, old.text):
            if retires:
                return _Plan("merged", True, old.ref, max(new.importance, old.importance))
            return _Plan("added", True)
        reinforces = retires or old.trust == "data"
        bump = min(1.0, max(new.importance, old.importance) + MERGE_BUMP) if reinforces else 0.0
        return _Plan("merged", False, old.ref, bump)
    return _Plan("added", True)
