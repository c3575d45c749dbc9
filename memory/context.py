"""The ``PromptContext`` memory gives the llm worker: a stable core snapshot and budgeted recall."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Protocol

from memory.budget import TokenCounter, count_tokens, fit_lines
from memory.core import CoreMemory
from memory.errors import MemoryFault
from memory.records import Memory

if TYPE_CHECKING:
    from memory.archival import Hit

log = logging.getLogger("steward.memory")

SEARCH_LIMIT = 20
"""Candidates asked of archival memory per recall; the budget decides how many are shown."""


class Searcher(Protocol):
    """The part of archival memory recall needs."""

    async def search(self, query: str, limit: int = 10) -> list[Hit]: ...


def live(memory: Memory) -> bool:
    """Neither superseded nor forgotten: only such memories reach a prompt."""
    return memory.valid_to is None and memory.superseded_by is None


def render_memory(memory: Memory, zone: tzinfo = UTC) -> str:
    """One memory as one prompt line: ``- [fact, 2026-10-03] text``; DATA-origin ones say so."""
    day = datetime.fromtimestamp(memory.created_at, zone).strftime("%Y-%m-%d")
    origin = ", from DATA" if memory.trust == "data" else ""
    return f"- [{memory.category}, {day}{origin}] {' '.join(memory.text.split())}"


class MemoryContext:
    """``engine.context.PromptContext`` over core and archival memory. ``stable_prefix`` is
    the core text as it was when this object was made (or last ``refresh``ed), so a session's
    prompts keep one prefix and the provider's prompt cache keeps hitting. Without
    ``archival`` (a session that recalls nothing) it is core memory alone."""

    def __init__(self, core: CoreMemory, archival: Searcher | None, *,
                 count: TokenCounter = count_tokens, zone: tzinfo = UTC) -> None:
        self._core = core
        self._archival = archival
        self._count = count
        self._zone = zone
        self._snapshot = ""
        self.refresh()

    def refresh(self) -> None:
        """Take a new snapshot of core memory (at a session's start, or after it changed)."""
        self._snapshot = self._core.text().strip()

    def stable_prefix(self) -> str:
        return self._snapshot

    async def recall(self, query: str, budget_tokens: int) -> str:
        """The memories most relevant to ``query``, best first, one per line, within
        ``budget_tokens``; '' when none fits, or when memory cannot be searched (recall is
        background: the answer goes on without it, and the failure is logged)."""
        if self._archival is None or budget_tokens <= 0 or not query.strip():
            return ""
        try:
            hits = await self._archival.search(query, limit=SEARCH_LIMIT)
        except MemoryFault as exc:
            log.warning("recall skipped: %s", exc)
            return ""
        lines = [render_memory(h.memory, self._zone) for h in hits if live(h.memory)]
        return "\n".join(fit_lines(lines, budget_tokens, self._count))
