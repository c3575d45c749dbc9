"""OpenAI Chat Completions, and every OpenAI-compatible server (OpenRouter, Ollama, DeepSeek)."""

from __future__ import annotations

import json
import ssl
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from engine.gateway import costs
from engine.gateway.messages import (
    Image,
    Message,
    Part,
    Request,
    StopReason,
    Text,
    ToolCall,
    ToolResult,
)
from engine.gateway.providers.base import (
    Reply,
    SdkErrors,
    malformed,
    tool_call,
    translated,
)

STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn", "tool_calls": "tool_use", "function_call": "tool_use",
    "length": "max_tokens", "content_filter": "refusal"}

ERROR_PREFIX = "Error: "
"""Chat Completions has no error flag on a tool result: the content says it instead."""


ERRORS = SdkErrors(openai.APIStatusError, openai.APITimeoutError,
                   openai.APIConnectionError)
"""How openai fails, for ``translated``."""


class OpenAIProvider:
    """A provider speaking Chat Completions at ``client``'s base URL. OpenAI's own API takes
    ``max_completion_tokens``; compatible servers (``legacy_max_tokens``) take ``max_tokens``."""

    def __init__(self, name: str, client: openai.AsyncOpenAI, *,
                 legacy_max_tokens: bool = False) -> None:
        self.name = name
        self._client = client
        self._limit = "max_tokens" if legacy_max_tokens else "max_completion_tokens"

    @classmethod
    def connect(cls, name: str, api_key: str, base_url: str, *, timeout_s: float = 120.0,
                legacy_max_tokens: bool = False, tls: ssl.SSLContext | None = None
                ) -> OpenAIProvider:
        """A client with the SDK's retries off (the gateway owns retries) and a timeout.
        ``tls`` shares one TLS context between clients: each new one costs tens of ms."""
        http = None if tls is None else openai.DefaultAsyncHttpxClient(verify=tls)
        client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0,
                                    timeout=timeout_s, http_client=http)
        return cls(name, client, legacy_max_tokens=legacy_max_tokens)

    async def complete(self, model: str, request: Request, timeout_s: float) -> Reply:
        options: dict[str, Any] = {self._limit: request.max_tokens}
        if request.tools:
            options["tools"] = encode_tools(request)
        if request.temperature is not None:
            options["temperature"] = request.temperature
        call = self._client.chat.completions.create(
            model=model, messages=encode_messages(request), timeout=timeout_s, **options)
        raw = await translated(ERRORS, call, timeout_s)
        return decode(raw)

    async def close(self) -> None:
        await self._client.close()


def encode_messages(request: Request) -> list[Any]:
    """The conversation as Chat Completions messages, the stable prefix first (OpenAI caches
    a repeated prefix by itself)."""
    out: list[dict[str, Any]] = []
    if request.stable_prefix:
        out.append({"role": "system", "content": request.stable_prefix})
    for message in request.messages:
        out.extend(_message(message))
    return out


def _message(m: Message) -> list[dict[str, Any]]:
    results = [p for p in m.parts if isinstance(p, ToolResult)]
    out: list[dict[str, Any]] = [{"role": "tool", "tool_call_id": r.call_id,
            "content": (ERROR_PREFIX if r.is_error else "") + r.content} for r in results]
    if m.role == "assistant":
        out.append(_assistant(m))
    elif m.role in ("user", "system"):
        content = _content(m.parts, images=m.role == "user")
        if content:
            out.append({"role": m.role, "content": content})
    return out


def _assistant(m: Message) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": m.text or None}
    calls = m.tool_calls
    if calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": _arguments(c)}} for c in calls]
    return message


def _arguments(call: ToolCall) -> str:
    if call.raw_arguments is not None:
        return call.raw_arguments
    return json.dumps(call.arguments, ensure_ascii=False)


def _content(parts: tuple[Part, ...], *, images: bool) -> str | list[dict[str, Any]]:
    """Plain text when the message is only text, else a list of text and image parts."""
    texts = [p for p in parts if isinstance(p, Text) and p.text]
    pictures = [p for p in parts if isinstance(p, Image)] if images else []
    if not pictures:
        return "\n".join(t.text for t in texts)
    blocks: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, Text) and p.text:
            blocks.append({"type": "text", "text": p.text})
        elif isinstance(p, Image):
            url = f"data:{p.media_type};base64,{p.data_b64}"
            blocks.append({"type": "image_url", "image_url": {"url": url}})
    return blocks


def encode_tools(request: Request) -> list[Any]:
    return [{"type": "function",
             "function": {"name": t.name, "description": t.description,
                          "parameters": t.parameters}} for t in request.tools]


def decode(raw: ChatCompletion) -> Reply:
    """The first choice as a ``Reply``; a reply of an unexpected shape is ``BadResponse``."""
    try:
        choice = raw.choices[0]
        parts: list[Part] = []
        if choice.message.content:
            parts.append(Text(choice.message.content))
        for call in choice.message.tool_calls or ():
            fn = getattr(call, "function", None)
            if fn is not None:
                parts.append(tool_call(call.id, fn.name, fn.arguments))
        usage = raw.usage
        if usage is None:
            raise malformed("no usage")
        details = usage.prompt_tokens_details
        cached = (details.cached_tokens or 0) if details is not None else 0
        tokens = costs.from_openai(usage.prompt_tokens, usage.completion_tokens, cached)
        stop = STOP_REASONS.get(choice.finish_reason or "", "other")
    except (AttributeError, IndexError, TypeError, KeyError) as exc:
        raise malformed(f"unexpected shape ({type(exc).__name__}: {exc})") from None
    return Reply(Message("assistant", tuple(parts)), tokens, stop)
