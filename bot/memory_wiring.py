"""Memory's parts built from the settings: the core file, archival memory, working sessions.

LanceDB, onnxruntime and tiktoken take a second or more to import, so they load only when
archival memory is built: ``steward job list`` and ``steward memory core`` never pay for them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings
from engine.store.base import Store
from memory.core import DEFAULT_TEMPLATE, FILE_NAME, CoreMemory
from memory.working import SESSIONS_DIR, WorkingMemory

if TYPE_CHECKING:
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


def open_memory(settings: Settings, store: Store, embedder: Embedder | None = None
                ) -> MemoryParts:
    """Memory in ``settings.data_dir``: ``core_memory.md``, LanceDB in ``lancedb/`` (opened on
    first use) and sessions in ``sessions/``. MiniLM on onnxruntime embeds unless told."""
    from memory.archival import ArchivalMemory
    from memory.embeddings import OnnxMiniLM

    data_dir = settings.data_dir
    archival = ArchivalMemory(store, embedder or OnnxMiniLM(), data_dir / LANCE_DIR)
    return MemoryParts(open_core(settings, store), archival,
                       WorkingMemory(data_dir / SESSIONS_DIR), settings.zone)
