"""The ``Provider`` port and what every provider shares: its reply, and HTTP statuses as errors."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from engine.gateway.breaker import parse_retry_after
from engine.gateway.errors import (
    BadResponse,
    ProviderDown,
    ProviderError,
    RateLimited,
    RequestRejected,
)
from engine.gateway.messages import Message, Request, StopReason, ToolCall, Usage
from engine.model import FailureClass

DETAIL_CHARS = 200
"""How much of a provider's error text an error keeps: enough to tell what went wrong."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What a provider answered, translated into the gateway's format."""

    message: Message
    usage: Usage
    stop_reason: StopReason


class Provider(Protocol):
    """One model API (OpenAI, Anthropic, an OpenAI-compatible server). ``complete`` makes
    exactly one HTTP call (the SDK's own retries are off) and raises ``ProviderError``."""

    name: str

    async def complete(self, model: str, request: Request, timeout_s: float) -> Reply: ...

    async def close(self) -> None: ...


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SdkErrors:
    """An official SDK's error classes; the openai and anthropic SDKs share the same shapes."""

    status: type[Exception]
    timeout: type[Exception]
    connection: type[Exception]


async def translated(errors: SdkErrors, call: Awaitable[T], timeout_s: float) -> T:
    """Await an SDK call, turning its failures into the gateway's errors (one place for both
    providers: a status, a timeout, a dropped connection, a body that is not JSON)."""
    try:
        return await call
    except errors.status as exc:
        status: Any = exc
        detail = api_detail(status.body, status.message)
        raise status_error(status.status_code, status.response.headers, detail) from None
    except errors.timeout:
        raise timed_out(timeout_s) from None
    except errors.connection as exc:
        raise unreachable(str(exc.__cause__ or exc)) from None
    except json.JSONDecodeError as exc:
        raise malformed(f"not JSON ({exc.msg})") from None


def status_error(status: int, headers: Mapping[str, str], detail: str) -> ProviderError:
    """The gateway error for an HTTP error status from a provider."""
    text = f"HTTP {status}: {_short(detail)}"
    retry_after_s = parse_retry_after(headers, time.time())
    if status == 429:
        return RateLimited(text, status=status, retry_after_s=retry_after_s)
    if status == 408:
        return ProviderDown(text, status=status, failure=FailureClass.TIMEOUT)
    if status >= 500:
        return ProviderDown(text, status=status, retry_after_s=retry_after_s)
    if status in (401, 403):
        return RequestRejected(f"HTTP {status}: the key was refused; check it",
                               status=status, failure=FailureClass.OTHER)
    if status == 404:
        return RequestRejected(text, status=status, failure=FailureClass.OTHER)
    return RequestRejected(text, status=status)


def api_detail(body: object, fallback: str) -> str:
    """The error message inside an API error body (``{"error": {"message": …}}``, or the
    inner object alone, as the OpenAI SDK keeps it), else ``fallback``."""
    error = body.get("error", body) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else fallback


def timed_out(timeout_s: float) -> ProviderDown:
    return ProviderDown(f"no answer within {timeout_s:g} s", failure=FailureClass.TIMEOUT)


def unreachable(detail: str) -> ProviderDown:
    return ProviderDown(f"connection failed: {_short(detail)}")


def malformed(detail: str) -> BadResponse:
    return BadResponse(f"malformed response: {_short(detail)}")


def tool_call(call_id: str, name: str, arguments: str | None) -> ToolCall:
    """A tool call whose arguments arrived as JSON text; text that is not a JSON object is kept
    in ``raw_arguments`` for the caller to refuse."""
    text = arguments or "{}"
    try:
        parsed = json.loads(text)
    except ValueError:
        return ToolCall(call_id, name, {}, raw_arguments=text)
    if not isinstance(parsed, dict):
        return ToolCall(call_id, name, {}, raw_arguments=text)
    return ToolCall(call_id, name, parsed)


def _short(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= DETAIL_CHARS else flat[: DETAIL_CHARS - 1] + "…"
