"""Fitting a conversation into a token budget: old tool output goes first; the task and the
latest turns stay."""

from __future__ import annotations

import json
from dataclasses import dataclass

from engine.gateway.messages import Image, Message, Part, Text, ToolCall, ToolResult
from engine.workers.llm_tokens import TokenCounter

IMAGE_TOKENS = 1_000
"""A flat estimate for an image: budgets need an upper bound, not the provider's exact count."""
PART_OVERHEAD_TOKENS = 4
ELIDED_MARK = "[elided to fit the context budget:"


@dataclass(frozen=True, slots=True)
class Fitted:
    """A conversation that fits: its messages, their estimated tokens, what was given up."""

    messages: tuple[Message, ...]
    tokens: int
    anchor: int
    """Where the task message now is."""
    elided: int = 0
    """Tool results replaced by a short note."""
    dropped: int = 0
    """Whole old messages left out."""


def part_tokens(part: Part, count: TokenCounter) -> int:
    match part:
        case Text(text):
            size = count(text)
        case Image():
            size = IMAGE_TOKENS
        case ToolCall(_, name, arguments):
            size = count(name) + count(json.dumps(arguments, ensure_ascii=False))
        case ToolResult(_, content, _):
            size = count(content)
    return size + PART_OVERHEAD_TOKENS


def message_tokens(message: Message, count: TokenCounter) -> int:
    return PART_OVERHEAD_TOKENS + sum(part_tokens(p, count) for p in message.parts)


def fit(messages: tuple[Message, ...], fixed_tokens: int, budget_tokens: int,
        count: TokenCounter, anchor: int = 0, keep_turns: int = 1) -> Fitted | None:
    """The conversation within ``budget_tokens`` (``fixed_tokens`` being the prefix and other
    text that cannot shrink), or None if it cannot fit. First the oldest tool results are
    elided, then the oldest whole messages dropped; the task message (at ``anchor``) and the
    last ``keep_turns`` turns are never touched."""
    sizes = [message_tokens(m, count) for m in messages]
    total = fixed_tokens + sum(sizes)
    if total <= budget_tokens:
        return Fitted(messages, total, anchor)
    kept = list(messages)
    free = [i for i in range(recent_start(messages, keep_turns)) if i != anchor]
    elided = 0
    for i in free:
        if total <= budget_tokens:
            break
        shorter, n = elide(kept[i], count)
        if n:
            size = message_tokens(shorter, count)
            total, kept[i], sizes[i], elided = total - sizes[i] + size, shorter, size, elided + n
    dropped: set[int] = set()
    for unit in units(kept, free):
        if total <= budget_tokens:
            break
        total -= sum(sizes[i] for i in unit)
        dropped.update(unit)
    if total > budget_tokens:
        return None
    left = tuple(m for i, m in enumerate(kept) if i not in dropped)
    moved = sum(1 for i in dropped if i < anchor)
    return Fitted(left, total, anchor - moved, elided, len(dropped))


def recent_start(messages: tuple[Message, ...], keep_turns: int) -> int:
    """Where the protected tail begins: at the ``keep_turns``-th last assistant message, or at
    the last message when there are fewer."""
    assistants = [i for i, m in enumerate(messages) if m.role == "assistant"]
    return assistants[-keep_turns] if len(assistants) >= keep_turns else len(messages) - 1


def units(messages: list[Message], free: list[int]) -> list[list[int]]:
    """The ``free`` indexes grouped so each group can go whole: a message with the tool results
    that answer it (providers refuse a tool result without its call, and the reverse)."""
    found: list[list[int]] = []
    for i in free:
        if messages[i].role == "tool" and found and found[-1][-1] == i - 1:
            found[-1].append(i)
        else:
            found.append([i])
    return found


def elide(message: Message, count: TokenCounter) -> tuple[Message, int]:
    """The message with each tool result replaced by a short note; how many were replaced."""
    parts: list[Part] = []
    n = 0
    for part in message.parts:
        if isinstance(part, ToolResult) and not part.content.startswith(ELIDED_MARK):
            note = (f"{ELIDED_MARK} {count(part.content)} tokens of tool output; call the "
                    "tool again if you still need it]")
            parts.append(ToolResult(part.call_id, note, part.is_error))
            n += 1
        else:
            parts.append(part)
    return Message(message.role, tuple(parts)), n
