"""The ``PromptContext`` port: how memory reaches a model prompt without the engine importing it."""

from __future__ import annotations

from typing import Protocol


class PromptContext(Protocol):
    """What the ``llm`` worker asks memory for on every call. ``memory/`` implements it; the
    composition root (``bot/app.py``) wires it in."""

    def stable_prefix(self) -> str:
        """Core memory as a snapshot that changes rarely: it goes in the cached prompt prefix."""
        ...

    async def recall(self, query: str, budget_tokens: int) -> str:
        """Memories relevant to ``query``, rendered within ``budget_tokens`` ('' if none)."""
        ...
