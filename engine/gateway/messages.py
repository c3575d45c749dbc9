"""The gateway's one message format: what callers send and get back, whatever the provider."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from engine.model import JSON

Role = Literal["system", "user", "assistant", "tool"]

StopReason = Literal["end_turn", "tool_use", "max_tokens", "stop_sequence", "refusal", "other"]
"""Why the model stopped, in one vocabulary for every provider."""


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Image:
    """An inline image: ``data_b64`` is the base64 of the bytes, ``media_type`` e.g. image/png."""

    media_type: str
    data_b64: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asks to run tool ``name``. ``arguments`` is what the model sent when it was a
    JSON object; when it was not, ``arguments`` is empty and ``raw_arguments`` holds the text, so
    the caller can answer with an error result instead of running the tool. The gateway does not
    check ``name`` against the tools offered: the caller owns its tools."""

    id: str
    name: str
    arguments: dict[str, JSON]
    raw_arguments: str | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The answer to the tool call ``call_id``."""

    call_id: str
    content: str
    is_error: bool = False


Part = Text | Image | ToolCall | ToolResult


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation. Tool results travel in a ``tool`` message (one or more)."""

    role: Role
    parts: tuple[Part, ...]

    @classmethod
    def system(cls, text: str) -> Message:
        return cls("system", (Text(text),))

    @classmethod
    def user(cls, text: str) -> Message:
        return cls("user", (Text(text),))

    @classmethod
    def assistant(cls, text: str) -> Message:
        return cls("assistant", (Text(text),))

    @classmethod
    def tool_results(cls, *results: ToolResult) -> Message:
        return cls("tool", tuple(results))

    @property
    def text(self) -> str:
        """The text parts joined with newlines ('' if none)."""
        return "\n".join(p.text for p in self.parts if isinstance(p, Text))

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(p for p in self.parts if isinstance(p, ToolCall))


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the model; ``parameters`` is the JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, JSON]


@dataclass(frozen=True, slots=True)
class Request:
    """One completion asked of a tier. ``stable_prefix`` (persona, core memory) goes first and
    is marked for prompt caching; ``exclude_models`` names ``provider/model`` keys to skip."""

    tier: str
    messages: tuple[Message, ...]
    stable_prefix: str = ""
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 1024
    temperature: float | None = None
    job_id: int | None = None
    priority: int = 2
    exclude_models: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one call, normalised: ``input_tokens`` INCLUDES ``cached_tokens`` (read from
    the cache) and ``cache_write_tokens`` (written to it, Anthropic only)."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int = 0

    @property
    def uncached_tokens(self) -> int:
        return self.input_tokens - self.cached_tokens - self.cache_write_tokens


ZERO_USAGE = Usage(0, 0, 0)


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer and what it cost; ``latency_ms`` is the provider call (the answering
    candidate's only: not the candidates that failed before it)."""

    message: Message
    usage: Usage
    provider: str
    model: str
    tier: str
    cost_usd: float
    stop_reason: str
    latency_ms: float

    @property
    def key(self) -> str:
        """``provider/model``: what ``Request.exclude_models`` takes."""
        return f"{self.provider}/{self.model}"
