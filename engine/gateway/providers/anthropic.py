"""Anthropic Messages: content blocks both ways, prompt-cache markers on the stable parts."""

from __future__ import annotations

import json
import ssl
from typing import Any

import anthropic
from anthropic.types import Message as AnthropicMessage

from engine.gateway import costs
from engine.gateway.messages import (
    Image,
    Message,
    Part,
    Request,
    StopReason,
    Text,
    ToolCall,
)
from engine.gateway.providers.base import (
    Reply,
    SdkErrors,
    malformed,
    tool_call,
    translated,
)

EPHEMERAL = {"type": "ephemeral"}
STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn", "tool_use": "tool_use", "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence", "refusal": "refusal"}


ERRORS = SdkErrors(anthropic.APIStatusError, anthropic.APITimeoutError,
                   anthropic.APIConnectionError)
"""How anthropic fails, for ``translated``."""


class AnthropicProvider:
    """A provider speaking the Messages API at ``client``'s base URL."""

    def __init__(self, name: str, client: anthropic.AsyncAnthropic) -> None:
        self.name = name
        self._client = client

    @classmethod
    def connect(cls, name: str, api_key: str, base_url: str, *, timeout_s: float = 120.0,
                tls: ssl.SSLContext | None = None) -> AnthropicProvider:
        """A client with the SDK's retries off: it would otherwise sleep for any retry-after
        it is sent (900 s was seen); the gateway owns retries. ``tls`` as for OpenAI."""
        http = None if tls is None else anthropic.DefaultAsyncHttpxClient(verify=tls)
        client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0,
                                          timeout=timeout_s, http_client=http)
        return cls(name, client)

    async def complete(self, model: str, request: Request, timeout_s: float) -> Reply:
        options: dict[str, Any] = {}
        system = encode_system(request)
        if system:
            options["system"] = system
        if request.tools:
            options["tools"] = encode_tools(request)
        if request.temperature is not None:
            options["extra_body"] = {"temperature": request.temperature}
        raw = await translated(ERRORS, self._client.messages.create(
                model=model, max_tokens=request.max_tokens, messages=encode_messages(request),
                timeout=timeout_s, **options), timeout_s)
        return decode(raw)

    async def close(self) -> None:
        await self._client.close()


def encode_system(request: Request) -> list[Any]:
    """The stable prefix first, marked for caching, then any system messages (not cached)."""
    blocks: list[dict[str, Any]] = []
    if request.stable_prefix:
        blocks.append({"type": "text", "text": request.stable_prefix,
                       "cache_control": EPHEMERAL})
    for m in request.messages:
        if m.role == "system" and m.text:
            blocks.append({"type": "text", "text": m.text})
    return blocks


def encode_tools(request: Request) -> list[Any]:
    """Tool definitions; the last one carries a cache marker, so all of them are cached."""
    tools: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description, "input_schema": t.parameters}
        for t in request.tools]
    tools[-1] = {**tools[-1], "cache_control": EPHEMERAL}
    return tools


def encode_messages(request: Request) -> list[Any]:
    """User and assistant turns, strictly alternating (tool results travel as user blocks).
    In a conversation of several turns the last block is marked too, so each call reads the
    conversation so far from the cache and pays full price only for what is new."""
    out: list[dict[str, Any]] = []
    for m in request.messages:
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks = [b for b in (_block(p) for p in m.parts) if b is not None]
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    if len(out) > 1:
        last = out[-1]["content"]
        last[-1] = {**last[-1], "cache_control": EPHEMERAL}
    return out


def _block(p: Part) -> dict[str, Any] | None:
    if isinstance(p, Text):
        return {"type": "text", "text": p.text} if p.text else None
    if isinstance(p, Image):
        return {"type": "image", "source": {"type": "base64", "media_type": p.media_type,
                                            "data": p.data_b64}}
    if isinstance(p, ToolCall):
        return {"type": "tool_use", "id": p.id, "name": p.name, "input": _input(p)}
    return {"type": "tool_result", "tool_use_id": p.call_id, "content": p.content,
            "is_error": p.is_error}


def _input(call: ToolCall) -> dict[str, Any]:
    """Anthropic takes tool input as an object: unparsable arguments go back as a string field."""
    if call.raw_arguments is not None:
        return {"_raw_arguments": call.raw_arguments}
    return call.arguments


def decode(raw: AnthropicMessage) -> Reply:
    """Text and tool_use blocks as a ``Reply`` (thinking blocks are left out)."""
    try:
        parts: list[Part] = []
        for block in raw.content:
            if block.type == "text" and block.text:
                parts.append(Text(block.text))
            elif block.type == "tool_use":
                parts.append(_decoded_call(block.id, block.name, block.input))
        u = raw.usage
        usage = costs.from_anthropic(u.input_tokens, u.output_tokens,
                                     u.cache_read_input_tokens or 0,
                                     u.cache_creation_input_tokens or 0)
        stop = STOP_REASONS.get(raw.stop_reason or "", "other")
    except (AttributeError, TypeError, KeyError) as exc:
        raise malformed(f"unexpected shape ({type(exc).__name__}: {exc})") from None
    return Reply(Message("assistant", tuple(parts)), usage, stop)


def _decoded_call(call_id: str, name: str, arguments: object) -> ToolCall:
    if isinstance(arguments, dict):
        return ToolCall(call_id, name, arguments)
    return tool_call(call_id, name, arguments if isinstance(arguments, str) else
                     json.dumps(arguments))
