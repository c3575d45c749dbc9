"""Canary secrets: recognisable fake secrets the whole suite configures, and the end-of-run check
that none of them escaped into a message, a log line, a trace or a prompt.

The plugin (installed from ``tests/conftest.py``) opens a journal file and names it in
``CANARY_JOURNAL`` so subprocesses inherit it. Into it go: the body and non-secret headers of
every request the fake Telegram and model servers receive (not the URL path: the Bot API carries
the token there by design, and not ``authorization``/``x-api-key``: a provider must get its key),
every log record of the test process, the captured output of ``steward`` subprocesses, and the
log files of ``steward run``. At the end of the session the journal is scanned for each canary;
a hit fails the run and names where it was found.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from security.redaction import register_secrets

CANARY_OPENAI_KEY = "sk-canary-openai-9f1c2d3e4b5a69788796"
CANARY_ANTHROPIC_KEY = "sk-ant-canary-anthropic-5e6f7a8b9c0d1e2f"
CANARY_OPENROUTER_KEY = "sk-or-canary-openrouter-3a4b5c6d7e8f90a1"
CANARY_BOT_TOKEN = "123456:AAcanary-telegram-token-0123456789abcdef"
"""Shaped like a real bot token; its id part matches the fake server's bot id."""
CANARY_EXTRA_SECRET = "canary-extra-secret-7c8d9e0f"
CANARIES = (CANARY_OPENAI_KEY, CANARY_ANTHROPIC_KEY, CANARY_OPENROUTER_KEY, CANARY_BOT_TOKEN,
            CANARY_EXTRA_SECRET)

JOURNAL_ENV = "CANARY_JOURNAL"
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "proxy-authorization",
                            "cookie", "x-goog-api-key"})
EXCERPT_CHARS = 60


def canary_env() -> dict[str, str]:
    """The environment variables that configure every canary in a ``steward`` process."""
    return {"OPENAI_API_KEY": CANARY_OPENAI_KEY, "ANTHROPIC_API_KEY": CANARY_ANTHROPIC_KEY,
            "OPENROUTER_API_KEY": CANARY_OPENROUTER_KEY,
            "STEWARD_EXTRA_SECRETS": CANARY_EXTRA_SECRET}


# -- writing the journal (any process) ------------------------------------------------------------

def _journal() -> Path | None:
    name = os.environ.get(JOURNAL_ENV)
    return Path(name) if name else None


def _append(entry: dict[str, str]) -> None:
    path = _journal()
    if path is None:
        return
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # survives a cleaned /tmp
    # O_APPEND: lines from several processes never interleave within a line.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8", errors="replace"))
    finally:
        os.close(fd)


def record(source: str, text: str) -> None:
    """Journal ``text`` produced by ``source`` (a no-op outside a test session)."""
    if text:
        _append({"source": source, "text": text})


def record_file(source: str, path: Path) -> None:
    """Journal a file by name: it is read when the journal is scanned (a process's log)."""
    _append({"source": source, "file": str(path)})


def record_request(source: str, headers: Mapping[str, str], body: Any) -> None:
    """Journal what a fake server received: its body and headers, minus the credentials the
    real service is meant to receive."""
    shown = {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=repr)
    record(source, f"{json.dumps(shown)}\n{text}")


# -- scanning it ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Leak:
    """A canary found in the journal: where, which, and the text around it."""

    source: str
    canary: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.source}: {self.canary[:14]}… in {self.excerpt!r}"


def _entries(journal: Path) -> Iterator[tuple[str, str]]:
    if not journal.exists():
        return
    with journal.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                yield "journal (a torn line)", line
                continue
            if "file" in entry:
                path = Path(entry["file"])
                if path.is_file():
                    yield entry["source"], path.read_text(encoding="utf-8", errors="replace")
            else:
                yield entry["source"], entry.get("text", "")


def scan(journal: Path, canaries: Iterable[str] = CANARIES) -> list[Leak]:
    """Every canary occurrence in the journal (and the files it names)."""
    wanted = [c for c in canaries if c]
    leaks: list[Leak] = []
    for source, text in _entries(journal):
        for canary in wanted:
            at = text.find(canary)
            if at >= 0:
                start = max(at - EXCERPT_CHARS, 0)
                leaks.append(Leak(source, canary, text[start:at + len(canary) + EXCERPT_CHARS]))
    return leaks


# -- the plugin -----------------------------------------------------------------------------------

class JournalHandler(logging.Handler):
    """Journals every log record of the test process, as it was made (before any redaction)."""

    def emit(self, entry: logging.LogRecord) -> None:
        try:
            text = entry.getMessage()
        except (TypeError, ValueError):
            text = f"{entry.msg!r} % {entry.args!r}"
        if entry.exc_info:
            text += "\n" + logging.Formatter().formatException(entry.exc_info)
        record(f"log record {entry.name} ({entry.pathname}:{entry.lineno})", text)


class CanaryPlugin:
    """Sets the canaries up at the start of the session and checks the journal at its end."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="steward-canary-"))
        self.journal = self.folder / "journal.jsonl"
        self.handler = JournalHandler(logging.INFO)
        self.leaks: list[Leak] = []
        self._steward_level = logging.NOTSET

    def start(self) -> None:
        os.environ[JOURNAL_ENV] = str(self.journal)
        register_secrets(CANARIES)
        logging.getLogger().addHandler(self.handler)
        steward = logging.getLogger("steward")
        self._steward_level = steward.level
        if steward.level == logging.NOTSET:  # so INFO records are made and journaled
            steward.setLevel(logging.INFO)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        logging.getLogger().removeHandler(self.handler)
        logging.getLogger("steward").setLevel(self._steward_level)
        self.leaks = scan(self.journal)
        if self.leaks:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        else:
            shutil.rmtree(self.folder, ignore_errors=True)
        os.environ.pop(JOURNAL_ENV, None)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.leaks:
            return
        terminalreporter.section("canary secrets leaked", sep="=", red=True, bold=True)
        for leak in self.leaks[:50]:
            terminalreporter.write_line(str(leak))
        terminalreporter.write_line(f"{len(self.leaks)} leak(s); journal kept at {self.journal}")


def install(config: pytest.Config) -> None:
    """Set the canaries up for this session; called from ``tests/conftest.py``."""
    plugin = CanaryPlugin()
    plugin.start()
    config.pluginmanager.register(plugin, "steward-canary")
