"""Pure cost maths: prices, token normalisation across providers, reservations, spend days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from engine.gateway.messages import Image, Request, Text, ToolCall, ToolResult, Usage

PER_TOKEN = 1e-6
"""Prices are quoted per million tokens."""

MESSAGE_OVERHEAD_TOKENS = 8
IMAGE_TOKENS = 1600
"""A generous bound on what one inline image costs in input tokens (about 1.15 MP)."""


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens. ``cached`` is for tokens read from the prompt cache;
    ``cache_write`` for tokens written to it (Anthropic; defaults to the input price)."""

    input: float
    output: float
    cached: float
    cache_write: float | None = None

    @property
    def free(self) -> bool:
        return self.input == 0 and self.output == 0 and self.cached == 0 and not self.cache_write


FREE = Price(0.0, 0.0, 0.0)


def from_openai(prompt_tokens: int, completion_tokens: int, cached_tokens: int) -> Usage:
    """OpenAI (and compatible) usage: ``prompt_tokens`` already INCLUDES ``cached_tokens``."""
    cached = min(max(cached_tokens, 0), max(prompt_tokens, 0))
    return Usage(max(prompt_tokens, 0), max(completion_tokens, 0), cached)


def from_anthropic(input_tokens: int, output_tokens: int, cache_read: int,
                   cache_write: int) -> Usage:
    """Anthropic usage: ``input_tokens`` EXCLUDES cache reads and writes, so they are added."""
    read, write = max(cache_read, 0), max(cache_write, 0)
    return Usage(max(input_tokens, 0) + read + write, max(output_tokens, 0), read, write)


def cost_usd(usage: Usage, price: Price) -> float:
    """What ``usage`` costs at ``price``: each kind of input token at its own rate."""
    write_rate = price.input if price.cache_write is None else price.cache_write
    total = (usage.uncached_tokens * price.input + usage.cached_tokens * price.cached
             + usage.cache_write_tokens * write_rate + usage.output_tokens * price.output)
    return total * PER_TOKEN


def estimate_input_tokens(request: Request) -> int:
    """An upper-leaning estimate of a request's input tokens, cheap enough for every call:
    a third of the ASCII characters plus one per other character (no tokenizer is run)."""
    chars = [request.stable_prefix]
    images = 0
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, Text):
                chars.append(part.text)
            elif isinstance(part, ToolResult):
                chars.append(part.content)
            elif isinstance(part, ToolCall):
                chars.append(part.name + str(part.arguments))
            elif isinstance(part, Image):
                images += 1
    for tool in request.tools:
        chars.append(tool.name + tool.description + str(tool.parameters))
    tokens = sum(_text_tokens(c) for c in chars)
    return (tokens + images * IMAGE_TOKENS
            + MESSAGE_OVERHEAD_TOKENS * (len(request.messages) + len(request.tools) + 1))


def _text_tokens(text: str) -> int:
    extra = len(text.encode("utf-8")) - len(text)
    return len(text) // 3 + extra + 1


def reservation_usd(input_tokens: int, max_tokens: int, price: Price) -> float:
    """The most a call may cost: every input token uncached (or written to the cache, if that
    is dearer) and all of ``max_tokens`` generated."""
    input_rate = max(price.input, price.cache_write or 0.0)
    return (input_tokens * input_rate + max_tokens * price.output) * PER_TOKEN


def day_start(now: float, zone: tzinfo) -> float:
    """The start (epoch seconds) of the day holding ``now`` in ``zone``: spend days begin there."""
    local = datetime.fromtimestamp(now, zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def day_label(now: float, zone: tzinfo) -> str:
    """The date holding ``now`` in ``zone``, as YYYY-MM-DD."""
    return datetime.fromtimestamp(now, zone).strftime("%Y-%m-%d")
