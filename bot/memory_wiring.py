"""Memory's parts built from the settings: the core file, archival memory, working sessions.

LanceDB, onnxruntime and tiktoken take a second or more to import, so they load only when
archival memory is built: ``steward job list`` and ``steward memory core`` never pay for them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings
from engine.model import Job
from engine.store.base import Store
from memory.core import DEFAULT_TEMPLATE, FILE_NAME, CoreMemory
from memory.errors import MemoryFault
from memory.working import SESSIONS_DIR, WorkingMemory

if TYPE_CHECKING:
    from engine.workers.llm_tools import Tool
    from memory.archival import ArchivalMemory
    from memory.context import MemoryContext
    from memory.embeddings import Embedder
    from skills.memory_tools import MemoryTools

LANCE_DIR = "lancedb"
LANCEDB_LOG = "LANCEDB_LOG"
# LanceDB's Rust logger writes warnings (a table being created) straight to stderr, which would
# break the command line's one-line errors. It reads this variable once, when lancedb is first
# imported, so it is set here, as the process starts, before anything can import lancedb.
os.environ.setdefault(LANCEDB_LOG, "error")
log = logging.getLogger("steward.memory")

TEMPLATE_FILE = Path(__file__).resolve().parent.parent / FILE_NAME
"""The repository's ``core_memory.md``: what a new data dir's core memory starts as."""


@dataclass
class MemoryParts:
    """Everything memory is, for one data dir; ``close`` finishes archival's queued writes."""

    core: CoreMemory
    archival: ArchivalMemory
    working: WorkingMemory
    zone: tzinfo

    def context(self) -> MemoryContext:
        """A ``PromptContext`` for one session: core memory as it is now, kept for the session."""
        from memory.context import MemoryContext

        return MemoryContext(self.core, self.archival, zone=self.zone)

    def tools(self) -> MemoryTools:
        """The memory skills (remember, recall, core_edit) for the skill backend and the model."""
        from skills.memory_tools import MemoryTools

        return MemoryTools(self.archival, self.core)

    async def close(self) -> None:
        await self.archival.close()


def core_template(path: Path = TEMPLATE_FILE) -> str:
    try:
        return path.read_text("utf-8")
    except OSError:
        return DEFAULT_TEMPLATE


def open_core(settings: Settings, store: Store) -> CoreMemory:
    """``core_memory.md`` in the data dir, seeded from the template when missing."""
    return CoreMemory.open(settings.data_dir / FILE_NAME, store, core_template())


def open_memory(settings: Settings, store: Store, embedder: Embedder | None = None,
                core: CoreMemory | None = None) -> MemoryParts:
    """Memory in ``settings.data_dir``: ``core_memory.md`` (unless already opened), LanceDB in
    ``lancedb/`` (opened on first use) and sessions in ``sessions/``. MiniLM on onnxruntime
    embeds unless told."""
    from memory.archival import ArchivalMemory
    from memory.embeddings import OnnxMiniLM

    data_dir = settings.data_dir
    archival = ArchivalMemory(store, embedder or OnnxMiniLM(), data_dir / LANCE_DIR)
    return MemoryParts(core or open_core(settings, store), archival,
                       WorkingMemory(data_dir / SESSIONS_DIR), settings.zone)


class LazyMemory:
    """Memory for the data dir, opened on first use: LanceDB and the embedder take seconds to
    import, which neither the start of the process nor a command without memory should wait
    for. The imports run in a thread; opening (which touches the store) stays on the loop.

    It is also the ``llm`` backend's ``engine.context.ContextSource`` (each session gets core
    memory as it is when the session starts, and recall) and the source of its memory tools."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self._core: CoreMemory | None = None
        self._parts: MemoryParts | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> MemoryParts:
        async with self._lock:
            if self._parts is None:
                await asyncio.to_thread(import_memory)
                self._parts = open_memory(self._settings, self._store, core=self.core())
        return self._parts

    def core(self) -> CoreMemory:
        """Core memory alone: a small file, opened (and reconciled) once, without the imports
        archival memory needs."""
        if self._core is None:
            self._core = open_core(self._settings, self._store)
        return self._core

    async def session(self, job: Job, recall: bool) -> MemoryContext | None:
        """A prompt context for one session of ``job``: core memory, and archival memory when
        the session ``recall``s (opening it on first use). None (the model answers without
        memory, and the reason is logged) when memory cannot be opened."""
        from memory.context import MemoryContext

        try:
            if recall:
                return (await self()).context()
            return MemoryContext(self.core(), None, zone=self._settings.zone)
        except (MemoryFault, OSError, ValueError) as exc:
            log.warning("memory unavailable for job %s: %s", job.id, exc)
            return None

    def llm_tools(self) -> list[Tool]:
        """remember, recall and core_edit for the model; memory opens at the first call."""
        from skills.memory_tools import llm_tools

        async def tools() -> MemoryTools:
            return (await self()).tools()

        return llm_tools(tools)

    async def close(self) -> None:
        if self._parts is not None:
            await self._parts.close()


def import_memory() -> None:
    """Load what archival memory needs (seconds: LanceDB, onnxruntime), off the event loop."""
    import lancedb  # noqa: F401

    import memory.archival
    import memory.context
    import memory.embeddings  # noqa: F401
    import skills.memory_tools  # noqa: F401
