"""Redaction: configured secret values and common key/token patterns, removed from text.

Patterns are compiled once, and each runs only when a cheap substring trigger is present, so
``redact`` stays linear and ordinary text costs almost nothing. The process registry
(``register_secrets``) holds the secrets from the settings; every way out — messages, logs,
prompts, traces — calls ``redact`` with it.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Iterable
from typing import TypeVar, cast
from urllib.parse import quote

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 6
"""Shorter configured values are ignored: redacting them would eat ordinary words."""
CACHE_ENTRIES = 128
CACHE_MIN_CHARS, CACHE_MAX_CHARS = 512, 128 * 1024
"""Prompts re-send the same persona and history on every call: long texts are remembered."""

_KEY_NAME = (r"(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|auth[_-]?key"
             r"|private[_-]?key)")
# (triggers, pattern): a pattern runs only when one of its lowercase triggers is in the text,
# so ordinary text costs one ``lower()`` and a few substring scans. A ``<name>_v`` group hides
# the value and keeps the ``<name>`` prefix; a lookbehind after the first character stands in
# for a word boundary without losing the fast literal search.
_PATTERNS: list[tuple[tuple[str, ...], str]] = [
    (("private key-----",), r"(?P<pem>-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?"
                            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z))"),
    (("://",), r"(?P<url>://[^/\s:@]*:)(?P<url_v>[^/\s@]+)(?=@)"),
    (("sk-",), r"(?P<openai>s(?<![A-Za-z0-9]s)k-(?:ant-[A-Za-z0-9_-]{8,}|"
               r"(?:proj-)?[A-Za-z0-9_-]{16,}))"),
    ((":",), r"(?P<telegram>[0-9](?<![A-Za-z0-9_][0-9])[0-9]{5,11}:[A-Za-z0-9_-]{30,})"),
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
     r"(?P<github>g(?<![A-Za-z0-9]g)(?:h[pousr]_[A-Za-z0-9]{20,}|ithub_pat_[A-Za-z0-9_]{22,}))"),
    (("akia", "asia"), r"(?P<aws>A(?<![A-Za-z0-9]A)(?:KIA|SIA)[0-9A-Z]{16}(?![A-Za-z0-9]))"),
    (("xox",), r"(?P<slack>x(?<![A-Za-z0-9]x)ox[abprs]-[A-Za-z0-9-]{10,})"),
    (("bearer",), r"(?P<bearer>(?i:bearer)\s+)(?P<bearer_v>[A-Za-z0-9._~+/=-]{8,})"),
    (("authorization",), r"(?P<basic>(?i:authorization)[\"']?\s*[=:]\s*[\"']?"
                         r"(?i:basic|token)\s+)(?P<basic_v>[A-Za-z0-9._~+/=-]{4,})"),
    (("pass", "secret", "token", "key"),
     rf"(?P<assign>(?i:{_KEY_NAME})[\"']?\s*[=:]\s*[\"']?)"
     r"(?P<assign_v>[^\s\"'&,;<>)\]}]{4,})"),
]
_SENSITIVE_KEY = re.compile(rf"(?i){_KEY_NAME}$")

J = TypeVar("J")


def _forms(secret: str) -> set[str]:
    """A secret as it appears raw, JSON-escaped and URL-encoded."""
    return {secret, json.dumps(secret)[1:-1], quote(secret, safe="")}


class Redactor:
    """Removes ``secrets`` (exact values) and, with ``patterns``, common key/token shapes."""

    def __init__(self, secrets: Iterable[str | None] = (), *, patterns: bool = True) -> None:
        kept = {s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}
        self.secrets = frozenset(kept)
        forms = sorted({f for s in kept for f in _forms(s)}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, forms))) if forms else None
        self._patterns = [(t, re.compile(p)) for t, p in _PATTERNS] if patterns else []
        self._cached = functools.lru_cache(maxsize=CACHE_ENTRIES)(self._redact)

    def redact(self, text: str) -> str:
        """``text`` with every secret and key-shaped token replaced by ``[redacted]``."""
        if len(text) < CACHE_MIN_CHARS or len(text) > CACHE_MAX_CHARS:
            return self._redact(text)
        return self._cached(text)

    def _redact(self, text: str) -> str:
        if not text:
            return text
        if self._secrets is not None:
            text = self._secrets.sub(REDACTED, text)
        if self._patterns:
            lowered = text.lower()
            for triggers, pattern in self._patterns:
                if any(t in lowered for t in triggers):
                    text = pattern.sub(_replace, text)
        return text

    def redact_json(self, value: J) -> J:
        """``value`` with every string in it redacted, recursively through dicts and lists;
        a string under a key named like a secret (``api_key``, ``password``) is hidden whole."""
        return cast(J, self._walk(value))

    def _walk(self, value: object, key: str = "") -> object:
        if isinstance(value, str):
            return REDACTED if key and value and _SENSITIVE_KEY.search(key) else self.redact(value)
        if isinstance(value, dict):
            return {k: self._walk(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._walk(v) for v in value)
        return value


def _replace(match: re.Match[str]) -> str:
    group = match.lastgroup or ""
    if group.endswith("_v"):
        return match.group(group.removesuffix("_v")) + REDACTED
    return REDACTED


_registry: frozenset[str] = frozenset()
_current = Redactor()


def register_secrets(values: Iterable[str | None]) -> None:
    """Add secret values to the process registry; empty or short (< 6 chars) ones are ignored."""
    global _registry, _current
    fresh = {v for v in values if v and len(v) >= MIN_SECRET_CHARS}
    if fresh <= _registry:
        return
    _registry = _registry | fresh
    _current = Redactor(_registry)


def registered() -> frozenset[str]:
    """The secret values registered in this process."""
    return _registry


def redact(text: str) -> str:
    """``text`` redacted with the process registry and the common patterns."""
    return _current.redact(text)


def redact_json(value: J) -> J:
    """``value`` redacted recursively with the process registry and the common patterns."""
    return _current.redact_json(value)


class RedactingFilter(logging.Filter):
    """Redacts a log record in place: its message with args merged in, and its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: let the handler report it
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
