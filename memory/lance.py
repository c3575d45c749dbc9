"""The LanceDB copy of archival memory: one table of vectors and text, searchable both ways."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from memory.errors import IndexUnavailable

if TYPE_CHECKING:
    import lancedb

log = logging.getLogger("steward.memory")

TABLE = "memories"
NPROBES = 20
REFINE_FACTOR = 5
LANCE_ERRORS = (OSError, RuntimeError, ValueError)
"""What LanceDB raises for a damaged or unreadable table (pyarrow's ArrowInvalid is a
ValueError; lance's own errors arrive as OSError, RuntimeError or ValueError)."""

OpenState = Literal["ok", "new", "reset"]
Health = Literal["ok", "missing", "stale", "damaged"]
Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Found:
    """A row one of the searches returned, with its stored vector (for the true cosine) and
    the search's own score (BM25 for full text; 0 for vector search, whose cosine is exact
    from the vector)."""

    id: int
    category: str
    vector: Vectors
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class OptimizeReport:
    versions_before: int
    versions_after: int
    fragments_removed: int
    fragments_added: int


async def _connect(folder: Path, refresh: timedelta) -> lancedb.AsyncConnection:
    # Imported on first use: ``import lancedb`` takes seconds, and most commands never need it.
    import lancedb

    return await lancedb.connect_async(folder, read_consistency_interval=refresh)


def brief(exc: BaseException) -> str:
    """LanceDB's errors end in Rust source locations: the first clause is the news."""
    return str(exc).split(", /", 1)[0][:200]


def schema(dim: int) -> pa.Schema:
    return pa.schema([
        pa.field("id", pa.int64(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
    ])


def _in(column: str, values: Sequence[int] | Sequence[str]) -> str:
    """A SQL ``IN`` filter; callers pass ids or known category names, never user text."""
    items = ", ".join(str(int(v)) if isinstance(v, int) else f"'{v}'" for v in values)
    return f"{column} IN ({items})"


def _vectors(table: pa.Table, dim: int) -> Vectors:
    column = table.column("vector").combine_chunks()
    return np.asarray(column.flatten().to_numpy(zero_copy_only=False),
                      dtype=np.float32).reshape(-1, dim)


def _found(table: pa.Table, dim: int) -> list[Found]:
    vectors = _vectors(table, dim)
    ids = table.column("id").to_pylist()
    categories = table.column("category").to_pylist()
    scores = table.column("_score").to_pylist() if "_score" in table.column_names \
        else [0.0] * len(ids)
    return [Found(i, c, vectors[n], float(s or 0.0))
            for n, (i, c, s) in enumerate(zip(ids, categories, scores, strict=True))]


class LanceIndex:
    """One LanceDB table ``memories`` (id, category, text, model, vector) with a native
    full-text index on ``text``. It holds only live memories and is never the truth: SQLite is,
    and anything wrong here is fixed by rebuilding from it."""

    def __init__(self, folder: Path, dim: int, model_id: str, refresh_s: float = 5.0) -> None:
        self.folder = folder
        self.dim = dim
        self.model_id = model_id
        self._refresh = timedelta(seconds=refresh_s)
        self._db: lancedb.AsyncConnection | None = None
        self._table: lancedb.AsyncTable | None = None
        self._ann: bool | None = None

    @property
    def table(self) -> lancedb.AsyncTable:
        if self._table is None:
            raise IndexUnavailable("the memory index is not open")
        return self._table

    async def open(self) -> OpenState:
        """Open the table: ``ok`` if it is readable and holds this model's vectors; ``new`` if
        there was none; ``reset`` if it was damaged or of another model and was recreated
        empty. After ``new`` or ``reset`` the caller refills it from SQLite."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._db = await _connect(self.folder, self._refresh)
            if TABLE not in await self._table_names():
                await self.reset()
                return "new"
            self._table = await self._db.open_table(TABLE)
            self._ann = None
            if await self._fits():
                return "ok"
        except LANCE_ERRORS as exc:
            log.warning("memory index at %s is damaged (%s); rebuilding it", self.folder,
                        brief(exc))
            await self._wipe()
        else:
            log.warning("memory index holds another model's vectors; re-embedding")
        await self.reset()
        return "reset"

    async def inspect(self) -> tuple[Health, str]:
        """How the index is, for ``steward doctor``, changing nothing (``open`` repairs):
        ``missing`` (not built yet), ``stale`` (another model's vectors), ``damaged`` or
        ``ok``, with a few words of detail."""
        if not self.folder.is_dir():
            return "missing", f"{self.folder} does not exist yet"
        try:
            self._db = await _connect(self.folder, self._refresh)
            if TABLE not in await self._table_names():
                return "missing", f"{self.folder} holds no memory table yet"
            self._table = await self._db.open_table(TABLE)
            if not await self._fits():
                return "stale", "it holds another embedding model's vectors"
            return "ok", f"{await self.count():,} memories indexed"
        except LANCE_ERRORS as exc:
            return "damaged", brief(exc)

    async def _table_names(self) -> list[str]:
        assert self._db is not None  # noqa: S101 - set just before
        return list((await self._db.list_tables()).tables)

    async def _fits(self) -> bool:
        """Readable, with vectors of our width and model (a full read of the id column and a
        probe of each search, so that a missing data file shows here, not in a search)."""
        table = self.table
        field = (await table.schema()).field("vector")
        if getattr(field.type, "list_size", None) != self.dim:
            return False
        await table.query().select(["id"]).to_arrow()
        quoted = self.model_id.replace("'", "''")
        if await table.count_rows(f"model != '{quoted}'"):
            return False
        probe = np.zeros(self.dim, dtype=np.float32)
        probe[0] = 1.0
        await self.search_vector(probe, 1)
        await self.search_text("probe", 1)
        return True

    async def _wipe(self) -> None:
        """Delete a damaged index: only ever a folder of ``*.lance`` tables (or a stray file
        where the folder belongs), never a folder holding anything else."""
        self._table = None
        self._db = None
        if self.folder.is_dir() and not self.folder.is_symlink():
            strangers = [p.name for p in self.folder.iterdir() if not p.name.endswith(".lance")]
            if strangers:
                raise IndexUnavailable(
                    f"the memory index folder {self.folder} holds other files "
                    f"({', '.join(sorted(strangers)[:3])}); move them away and start again")
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            self.folder.unlink(missing_ok=True)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._db = await _connect(self.folder, self._refresh)
        except LANCE_ERRORS as exc:
            raise IndexUnavailable(f"cannot create the memory index at {self.folder}: {exc}"
                                   ) from exc

    async def reset(self) -> None:
        """Replace the table with an empty one and its full-text index."""
        self._ann = False
        if self._db is None:
            await self._wipe()
        assert self._db is not None  # noqa: S101 - _wipe connects or raises
        from lancedb.index import FTS

        try:
            self._table = await self._db.create_table(TABLE, schema=schema(self.dim),
                                                      mode="overwrite")
            await self._table.create_index("text", config=FTS(with_position=False))
        except LANCE_ERRORS as exc:
            raise IndexUnavailable(f"cannot create the memory index at {self.folder}: {exc}"
                                   ) from exc

    # -- writes ---------------------------------------------------------------------------------

    async def add(self, ids: Sequence[int], categories: Sequence[str], texts: Sequence[str],
                  vectors: Vectors) -> None:
        """Append rows in one write (one table version)."""
        if not ids:
            return
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
        batch = pa.table({
            "id": pa.array(ids, pa.int64()), "category": pa.array(categories, pa.string()),
            "text": pa.array(texts, pa.string()),
            "model": pa.array([self.model_id] * len(ids), pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(flat, self.dim),
        }, schema=schema(self.dim))
        await self.table.add(batch)

    async def delete(self, ids: Sequence[int]) -> None:
        if ids:
            await self.table.delete(_in("id", ids))

    # -- reads ----------------------------------------------------------------------------------

    async def search_vector(self, vector: Vectors, limit: int,
                            categories: Sequence[str] | None = None) -> list[Found]:
        """The nearest rows by cosine, best first."""
        query = self.table.query().nearest_to(vector).distance_type("cosine")
        if await self.has_ann():
            query = query.nprobes(NPROBES).refine_factor(REFINE_FACTOR)
        if categories:
            query = query.where(_in("category", categories))
        result = await query.select(["id", "category", "vector", "_distance"]).limit(limit) \
            .to_arrow()
        return _found(result, self.dim)

    async def search_text(self, text: str, limit: int,
                          categories: Sequence[str] | None = None) -> list[Found]:
        """The best full-text (BM25) matches, best first. The text is matched term by term,
        never parsed as query syntax."""
        query = self.table.query().nearest_to_text(text)
        if categories:
            query = query.where(_in("category", categories))
        result = await query.select(["id", "category", "vector", "_score"]).limit(limit) \
            .to_arrow()
        return _found(result, self.dim)

    async def neighbours(self, vectors: Vectors, k: int) -> list[list[Found]]:
        """The ``k`` nearest rows for each of several vectors, in one query."""
        out: list[list[Found]] = [[] for _ in range(len(vectors))]
        if not len(vectors):
            return out
        query = self.table.query().nearest_to(list(vectors)).distance_type("cosine")
        if await self.has_ann():
            query = query.nprobes(NPROBES).refine_factor(REFINE_FACTOR)
        result = await query.select(["id", "category", "vector", "_distance"]).limit(k) \
            .to_arrow()
        # A query of one vector comes back without a query_index column.
        owners = result.column("query_index").to_pylist() \
            if "query_index" in result.column_names else [0] * result.num_rows
        for owner, found in zip(owners, _found(result, self.dim), strict=True):
            out[owner].append(found)
        return out

    async def vectors_of(self, ids: Sequence[int]) -> dict[int, Vectors]:
        if not ids:
            return {}
        result = await self.table.query().where(_in("id", ids)).select(["id", "vector"]) \
            .to_arrow()
        vectors = _vectors(result, self.dim)
        return {i: vectors[n] for n, i in enumerate(result.column("id").to_pylist())}

    async def ids(self) -> list[int]:
        result = await self.table.query().select(["id"]).to_arrow()
        return [int(i) for i in result.column("id").to_pylist()]

    async def count(self) -> int:
        return int(await self.table.count_rows())

    async def versions(self) -> int:
        """How many table versions are kept on disk."""
        kept: list[Any] = await self.table.list_versions()  # type: ignore[no-untyped-call]
        return len(kept)

    async def has_ann(self) -> bool:
        """Whether the approximate vector index exists (asked once per opening: building it
        is the only way it appears, and that goes through ``ensure_ann``)."""
        if self._ann is None:
            self._ann = any(ix.index_type.startswith("IVF")
                            for ix in await self.table.list_indices() if "vector" in ix.columns)
        return self._ann

    # -- upkeep ---------------------------------------------------------------------------------

    async def optimize(self, cleanup_older_than: timedelta) -> OptimizeReport:
        """Compact small files, bring the indexes up to date with new rows, and drop table
        versions older than ``cleanup_older_than``."""
        table = self.table
        before = await self.versions()
        stats = await table.optimize(cleanup_older_than=cleanup_older_than)
        after = await self.versions()
        return OptimizeReport(before, after, stats.compaction.fragments_removed,
                              stats.compaction.fragments_added)

    async def ensure_ann(self, min_rows: int) -> bool:
        """Build the approximate vector index once the table holds ``min_rows`` rows (below
        that a flat scan is fast and exact); True if the index exists afterwards."""
        self._ann = None  # another process may have built it
        if await self.has_ann():
            return True
        rows = await self.count()
        if rows < min_rows:
            return False
        from lancedb.index import IvfSq

        # IVF with scalar quantisation: trains in seconds where IVF_PQ takes minutes on two
        # cores, and with ``refine_factor`` its top results are exact.
        config: Any = IvfSq(distance_type="cosine")
        await self.table.create_index("vector", config=config)
        self._ann = True
        return True
