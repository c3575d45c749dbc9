"""The ``PromptContext`` port: how memory reaches a model prompt without the engine importing it."""

from __future__ import annotations

from typing import Protocol

from engine.model import Job


class PromptContext(Protocol):
    """What the ``llm`` worker asks memory for during one session. ``memory/`` implements it;
    the composition root (``bot/app.py``) wires it in."""

    def stable_prefix(self) -> str:
        """Core memory as a snapshot that changes rarely: it goes in the cached prompt prefix."""
        ...

    async def recall(self, query: str, budget_tokens: int) -> str:
        """Memories relevant to ``query``, rendered within ``budget_tokens`` ('' if none)."""
        ...


class ContextSource(Protocol):
    """Where the ``llm`` worker gets a ``PromptContext`` for each session (one attempt of one
    job). Memory may open on the first ask, so the backend can be built before it."""

    async def session(self, job: Job, recall: bool) -> PromptContext | None:
        """The context for a session of ``job``, its core snapshot taken now (None: none);
        ``recall``: the session will ask it for memories, not only for core memory."""
        ...


class Fixed:
    """A ``ContextSource`` that gives every session the same context."""

    def __init__(self, context: PromptContext) -> None:
        self._context = context

    async def session(self, job: Job, recall: bool) -> PromptContext:
        return self._context
