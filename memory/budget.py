"""Token budgets for injected memories: cl100k_base counted offline, lines fitted in rank order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

TokenCounter = Callable[[str], int]


def count_tokens(text: str) -> int:
    """Tokens ``text`` takes in cl100k_base (the encoding the llm worker budgets with, from the
    installed file, loaded on first use); special-token text counts as plain text."""
    from engine.workers.llm_tokens import cl100k

    return len(cl100k().encode_ordinary(text))


def fit_lines(lines: Sequence[str], budget_tokens: int,
              count: TokenCounter = count_tokens) -> list[str]:
    """The lines, in their order, that fit ``budget_tokens`` when joined by newlines. A line
    too long for what is left is skipped so shorter ones after it still get their place."""
    kept: list[str] = []
    used = 0
    for line in lines:
        cost = count(line) + (1 if kept else 0)
        if used + cost <= budget_tokens:
            kept.append(line)
            used += cost
    while kept and count("\n".join(kept)) > budget_tokens:  # merges across lines, rarely
        kept.pop()
    return kept
