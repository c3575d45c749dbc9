"""Redaction of configured secrets and common key/token patterns, in text, JSON and logs."""

from __future__ import annotations

import json
import logging
import sys
from urllib.parse import quote

import pytest

from security import redaction
from security.redaction import REDACTED, RedactingFilter, Redactor

SECRET = "correct-horse-battery"
R = Redactor([SECRET, None, "", "short"])

PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
       "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n"
       "-----END RSA PRIVATE KEY-----")

# (text, the part that must disappear, the part that must stay)
CASES = [
    ("key sk-abcdefghijklmnopqrstuvwx end", "sk-abcdefghijklmnopqrstuvwx", "key "),
    ("sk-proj-AbCdEf0123456789_-xyzXYZ", "sk-proj-AbCdEf0123456789", ""),
    ("anthropic=sk-ant-api03-AAAAbbbbCCCC", "sk-ant-api03-AAAAbbbbCCCC", "anthropic="),
    ("(sk-ant-zzzzzzzzzzzz)", "sk-ant-zzzzzzzzzzzz", f"({REDACTED})"),
    ("bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw2 ok", "AAHdqTcvCH1vGWJxfSeofSAs0K5", "bot "),
    ("ghp_0123456789abcdefghijABCDEFGHIJ", "ghp_0123456789", ""),
    ("gho_0123456789abcdefghijABCDEF and", "gho_0123456789", " and"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11ABC", ""),
    ("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", "aws "),
    ("ASIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE", ""),
    ("xoxb-123456789012-abcdefghij", "xoxb-123456789012", ""),
    ("xoxp-1-2-3-abcdefghijklmnop", "xoxp-1-2-3", ""),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "eyJhbGciOiJIUzI1NiJ9",
     "Authorization: Bearer "),
    ("bearer   abcdefghijklmnop", "abcdefghijklmnop", "bearer"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA", "Basic "),
    (PEM, "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo", ""),
    ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC (truncated)",
     "MIIEvQIBADANBgkq", ""),
    ("https://example.com/cb?token=abcd1234efgh&page=2", "abcd1234efgh", "&page=2"),
    ("GET /x?api_key=QWERTY123456 HTTP/1.1", "QWERTY123456", " HTTP/1.1"),
    ("password=hunter22", "hunter22", "password="),
    ("DB_PASSWORD: 's3cr3t-pw'", "s3cr3t-pw", "DB_PASSWORD"),
    ('{"client_secret": "abcdef123456"}', "abcdef123456", '"client_secret"'),
    ("OPENAI_API_KEY=anything-here", "anything-here", "OPENAI_API_KEY="),
    ("x-api-key: 0123456789abcdef", "0123456789abcdef", "x-api-key"),
    ("postgres://admin:pa55w0rd@db.local:5432/app", "pa55w0rd", "postgres://admin:"),
    ("redis://:onlypass123@localhost/0", "onlypass123", "redis://:"),
    (f"the secret is {SECRET}!", SECRET, "the secret is "),
    (f"json {json.dumps({'v': SECRET})}", SECRET, "json "),
    (f"url ?q={quote(SECRET + '/x')}", SECRET, "url ?q="),
    (f"{SECRET}{SECRET}", SECRET, ""),
]


@pytest.mark.parametrize(("text", "gone", "kept"), CASES)
def test_secrets_are_redacted(text: str, gone: str, kept: str) -> None:
    out = R.redact(text)
    assert gone not in out
    assert REDACTED in out
    assert kept in out


@pytest.mark.parametrize("text", [
    "Hello! Your meeting is at 10:30 tomorrow.",
    "max_tokens=100 and tokens: 1200 used",
    "task-ant-abcdefghijkl and desk-abcdefghijklmnopqrstuvwxyz",
    "job 12345678 finished at 12:00:00",
    "see https://example.com/path?page=2&sort=asc",
    "the secretary said: come at noon",
    "password: no",
    "Bearer of good news",
    "AKIA is not a key",
    "a short value 'short' is not registered",
])
def test_ordinary_text_is_untouched(text: str) -> None:
    assert R.redact(text) == text


def test_a_registered_secret_goes_even_without_a_pattern() -> None:
    plain = Redactor(["my-plain-secret-value"], patterns=False)
    assert plain.redact("x my-plain-secret-value y") == f"x {REDACTED} y"
    assert plain.redact("sk-abcdefghijklmnopqrstuvwx") == "sk-abcdefghijklmnopqrstuvwx"
    assert Redactor(patterns=False).redact("anything") == "anything"


def test_the_longest_secret_wins() -> None:
    r = Redactor(["abcdef", "abcdefghij"])
    assert r.redact("abcdefghij") == REDACTED


def test_redact_json_walks_dicts_and_lists() -> None:
    value = {"a": [SECRET, {"b": f"x {SECRET}"}], "n": 3, "ok": True, "none": None,
             "api_key": "not-shaped", "token_count": 12, "t": ("sk-abcdefghijklmnopqrstu",)}
    out = R.redact_json(value)
    assert out == {"a": [REDACTED, {"b": f"x {REDACTED}"}], "n": 3, "ok": True, "none": None,
                   "api_key": REDACTED, "token_count": 12, "t": (REDACTED,)}
    assert value["a"][0] == SECRET  # the input is left as it was


def test_the_process_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redaction, "_registry", frozenset())
    monkeypatch.setattr(redaction, "_current", Redactor())
    redaction.register_secrets(["registry-secret-1", None, "", "tiny"])
    redaction.register_secrets(["registry-secret-2"])
    assert redaction.registered() == frozenset({"registry-secret-1", "registry-secret-2"})
    assert redaction.redact("a registry-secret-1 b registry-secret-2") == (
        f"a {REDACTED} b {REDACTED}")
    assert redaction.redact_json({"k": ["registry-secret-2"]}) == {"k": [REDACTED]}


def test_the_logging_filter_redacts_message_args_and_traceback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redaction, "_registry", frozenset())
    monkeypatch.setattr(redaction, "_current", Redactor())
    redaction.register_secrets(["log-secret-value"])
    try:
        raise RuntimeError("failed with log-secret-value")
    except RuntimeError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "calling %s with %s", ("x", "log-secret-value"),
            sys.exc_info())
    assert RedactingFilter().filter(record) is True
    line = logging.Formatter("%(message)s").format(record)
    assert "log-secret-value" not in line
    assert f"calling x with {REDACTED}" in line
    assert "RuntimeError: failed with [redacted]" in line


def test_a_long_text_is_redacted_in_one_pass() -> None:
    blob = ("ordinary words, a: b = c, token usage 1234. " * 20_000) + SECRET
    out = R.redact(blob)
    assert out.endswith(REDACTED)
    assert len(out) == len(blob) - len(SECRET) + len(REDACTED)
