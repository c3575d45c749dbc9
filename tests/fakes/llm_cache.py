"""The fake servers' prompt cache: which input tokens a real provider would report as cached."""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

MIN_CACHED_TOKENS = 1024
OPENAI_CACHE_STEP = 128
MESSAGE_TOKENS = 4


def tokens(text: str) -> int:
    """The fake tokenizer: four characters a token, like English text on real ones."""
    return max(1, len(text) // 4)


class PromptCache:
    """Prefixes seen before, by hash, with their size in tokens. OpenAI caches any repeated
    prefix of whole messages from 1024 tokens on, in steps of 128; Anthropic caches the prefix
    up to each ``cache_control`` marker (tools, system, messages, in that order) and reads the
    longest one seen before."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def openai_usage(self, body: dict[str, Any]) -> tuple[int, int]:
        """(prompt tokens, cached tokens): any prefix of whole messages seen before is cached,
        from 1024 tokens on, in steps of 128."""
        parts = [body.get("tools", []), *body.get("messages", [])]
        segments = [json.dumps(p, sort_keys=True) for p in parts]
        sizes = [tokens(_texts(p)) + MESSAGE_TOKENS for p in parts]
        keys = _prefix_keys(str(body.get("model")), segments)
        hit = max((i + 1 for i, k in enumerate(keys) if k in self._seen), default=0)
        for k, size in zip(keys, itertools.accumulate(sizes), strict=True):
            self._seen[k] = size
        seen = sum(sizes[:hit])
        cached = seen // OPENAI_CACHE_STEP * OPENAI_CACHE_STEP if seen >= MIN_CACHED_TOKENS else 0
        return sum(sizes), cached

    def anthropic_usage(self, body: dict[str, Any]) -> tuple[int, int, int]:
        """(all input tokens, read from cache, written to cache), by content block in
        Anthropic's cache order: tools, system, messages."""
        blocks = _anthropic_blocks(body)
        segments = [json.dumps(_unmarked(b), sort_keys=True) for b in blocks]
        sizes = [tokens(_texts(b)) + 1 for b in blocks]
        totals = list(itertools.accumulate(sizes))
        keys = _prefix_keys(str(body.get("model")), segments)
        marks = [i for i, b in enumerate(blocks) if isinstance(b, dict) and "cache_control" in b]
        last_mark = max(marks, default=-1)
        read = max((totals[i] for i in range(last_mark + 1) if keys[i] in self._seen),
                   default=0)
        written = 0
        for i in marks:
            if totals[i] >= MIN_CACHED_TOKENS and keys[i] not in self._seen:
                self._seen[keys[i]] = totals[i]
                written = max(written, totals[i] - read)
        return (totals[-1] if totals else 0) + MESSAGE_TOKENS, read, written


def _prefix_keys(model: str, segments: list[str]) -> list[str]:
    """A key per prefix: the hash of every segment up to and including it."""
    digest = hashlib.sha256(model.encode())
    keys = []
    for s in segments:
        digest.update(s.encode())
        keys.append(digest.copy().hexdigest())
    return keys


def _anthropic_blocks(body: dict[str, Any]) -> list[Any]:
    blocks: list[Any] = list(body.get("tools", []))
    system = body.get("system", [])
    blocks += [{"type": "text", "text": system}] if isinstance(system, str) else list(system)
    for m in body.get("messages", []):
        content = m.get("content")
        blocks += [{"type": "text", "text": content}] if isinstance(content, str) else content
    return blocks


def _unmarked(block: Any) -> Any:
    if isinstance(block, dict):
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def _texts(value: Any) -> str:
    """Every string in a JSON value, joined: what the fake tokenizer counts."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(_texts(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(_texts(v) for v in value)
    return str(value)


