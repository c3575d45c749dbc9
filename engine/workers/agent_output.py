"""Reading what the coding-agent CLIs print: Claude Code's result object, Codex's JSONL events.

Pure functions over text. Lines that are not JSON objects are skipped, so a warning or a stray
print never breaks a run; what cannot be found is None. Usage is normalised the OpenAI way:
``input_tokens`` includes ``cached_tokens``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.model import FailureClass


@dataclass(frozen=True, slots=True)
class Reply:
    """One run of an agent CLI as it reported it."""

    text: str
    session_id: str | None
    is_error: bool = False
    cost_usd: float | None = None
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    turns: int = 1


def _objects(stdout: str) -> Iterator[dict[str, Any]]:
    """Every JSON object printed: the whole text if it is one value, else line by line."""
    try:
        whole = json.loads(stdout)
    except ValueError:
        whole = None
    if whole is not None:
        yield from (o for o in (whole if isinstance(whole, list) else [whole])
                    if isinstance(o, dict))
        return
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_claude(stdout: str) -> Reply | None:
    """The ``type: result`` object of ``claude -p --output-format json|stream-json``."""
    result: dict[str, Any] | None = None
    session: str | None = None
    for obj in _objects(stdout):
        session = _str(obj.get("session_id")) or session
        if obj.get("type") == "result":
            result = obj
    if result is None:
        return None
    usage = _dict(result.get("usage"))
    cached = _int(usage.get("cache_read_input_tokens"))
    fresh = _int(usage.get("input_tokens")) + _int(usage.get("cache_creation_input_tokens"))
    cost = result.get("total_cost_usd", result.get("cost_usd"))
    text = _str(result.get("result")) or _str(result.get("error")) or ""
    failed = result.get("is_error") is True or str(result.get("subtype", "success")) != "success"
    return Reply(text=text, session_id=_str(result.get("session_id")) or session,
                 is_error=failed,
                 cost_usd=float(cost) if isinstance(cost, int | float) else None,
                 input_tokens=fresh + cached, cached_tokens=cached,
                 output_tokens=_int(usage.get("output_tokens")),
                 turns=max(_int(result.get("num_turns")), 1))


def parse_codex(stdout: str) -> Reply | None:
    """The events of ``codex exec --json``: the thread id, the last agent message, the usage;
    a failed turn or a fatal error with no completed turn after it is an error."""
    thread: str | None = None
    text, error = "", None
    usage: dict[str, Any] = {}
    turns, seen = 0, False
    for obj in _objects(stdout):
        kind = obj.get("type")
        seen = seen or isinstance(kind, str)
        if kind == "thread.started":
            thread = _str(obj.get("thread_id")) or thread
        elif kind == "item.completed" and isinstance(obj.get("item"), dict):
            item = obj["item"]
            if item.get("type") == "agent_message":
                text = _str(item.get("text")) or text
        elif kind == "turn.completed":
            turns += 1
            error = None
            usage = _dict(obj.get("usage"))
        elif kind == "turn.failed":
            failure = obj.get("error")
            error = _str(failure.get("message")) if isinstance(failure, dict) else None
            error = error or "the turn failed"
        elif kind == "error" and turns == 0:
            error = _str(obj.get("message")) or "codex reported an error"
    if not seen:
        return None
    return Reply(text=error or text, session_id=thread,
                 is_error=error is not None or turns == 0,
                 input_tokens=_int(usage.get("input_tokens")),
                 cached_tokens=_int(usage.get("cached_input_tokens")),
                 output_tokens=_int(usage.get("output_tokens")), turns=max(turns, 1))


RATE_LIMIT = re.compile(r"rate.?limit|usage limit|hit your limit|out of extra usage|\b429\b|"
                        r"too many requests|quota", re.IGNORECASE)
CONTEXT = re.compile(r"prompt is too long|context.?(window|length)|maximum context|"
                     r"too many tokens", re.IGNORECASE)
SERVER = re.compile(r"overloaded|\b5(00|02|03|04|29)\b|internal server error|"
                    r"service unavailable|bad gateway|connection (reset|refused|error)",
                    re.IGNORECASE)
MISSING = re.compile(r"no (conversation|rollout|saved session|session|thread)\b[^\n]*"
                     r"(found|for)|(session|thread|conversation)[^\n]*not found", re.IGNORECASE)
IN_USE = re.compile(r"session id [^\n]*already in use", re.IGNORECASE)
RESET_AT = re.compile(r"limit reached\|(\d{9,11})")


def classify(text: str) -> FailureClass:
    """The failure class an agent's error text names: rate limit, context overflow (its
    session is too big), a server error, or other."""
    if RATE_LIMIT.search(text):
        return FailureClass.RATE_LIMIT
    if CONTEXT.search(text):
        return FailureClass.CONTEXT_LOSS
    if SERVER.search(text):
        return FailureClass.SERVER_ERROR
    return FailureClass.OTHER


def session_missing(text: str) -> bool:
    """The CLI has no record of the session it was asked to resume."""
    return MISSING.search(text) is not None


def session_in_use(text: str) -> bool:
    """The CLI already has a session with the id it was asked to start."""
    return IN_USE.search(text) is not None


def retry_after_s(text: str, now: float) -> float | None:
    """Seconds until a usage limit resets, when the text carries the reset time."""
    found = RESET_AT.search(text)
    return max(float(found.group(1)) - now, 0.0) if found else None


def one_line(text: str, limit: int = 300) -> str:
    """The text on one line, cut to ``limit`` characters from its end (errors end usefully)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else "…" + flat[-limit:]
