"""The canary check, and one ``redact()`` on every way out: Telegram, the console, the model
prompt, the logs.

The detector is tested on its own journal (a deliberate leak must be found, named and quoted);
the wiring tests push each canary through a real way out and look at what the fake on the
other side received. Were redaction missing, the session's own canary check would fail too.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import Bot

from bot.channel import send_long
from bot.console import ConsoleChannel
from bot.telegram.channel import TelegramChannel
from engine.gateway.messages import Message, Request, ToolCall, ToolResult
from engine.gateway.repo import GatewayRepo
from engine.gateway.router import Gateway, GatewayConfig
from engine.store.sqlite import SqliteStore
from security.redaction import REDACTED, RedactingFilter, registered
from tests import canary
from tests.canary import (
    CANARIES,
    CANARY_ANTHROPIC_KEY,
    CANARY_BOT_TOKEN,
    CANARY_EXTRA_SECRET,
    CANARY_OPENAI_KEY,
    JOURNAL_ENV,
    scan,
)
from tests.fakes.llm_servers import FakeLLM, openai_provider, serving, table
from tests.fakes.telegram_server import FakeTelegram

OWNER = 4242
HOME = f"telegram:{OWNER}"


def _journal_lines(journal: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in journal.read_text().splitlines()]


# -- the detector -------------------------------------------------------------------------------

def test_the_scanner_finds_and_names_a_leak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    journal = tmp_path / "journal.jsonl"
    log = tmp_path / "steward.log"
    log.write_text(f"2026-01-01 started\n2026-01-01 calling with {CANARY_OPENAI_KEY} oops\n")
    monkeypatch.setenv(JOURNAL_ENV, str(journal))
    canary.record("a clean message", "nothing to see here")
    canary.record("fake Telegram sendMessage", f"the token is {CANARY_BOT_TOKEN}!")
    canary.record_file("steward run log", log)
    canary.record_file("a log that was removed", tmp_path / "gone.log")
    leaks = scan(journal)
    assert [(leak.source, leak.canary) for leak in leaks] == [
        ("fake Telegram sendMessage", CANARY_BOT_TOKEN), ("steward run log", CANARY_OPENAI_KEY)]
    assert "the token is" in leaks[0].excerpt
    assert str(leaks[1]).startswith("steward run log: sk-canary-open")


def test_a_clean_journal_has_no_leak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = tmp_path / "journal.jsonl"
    monkeypatch.setenv(JOURNAL_ENV, str(journal))
    canary.record("message", f"key {REDACTED}")
    assert scan(journal) == []
    assert scan(tmp_path / "never-written.jsonl") == []


def test_requests_are_journaled_without_their_credentials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = tmp_path / "journal.jsonl"
    monkeypatch.setenv(JOURNAL_ENV, str(journal))
    canary.record_request("fake model /v1/messages",
                          {"Authorization": f"Bearer {CANARY_OPENAI_KEY}",
                           "x-api-key": CANARY_ANTHROPIC_KEY, "content-type": "application/json"},
                          {"messages": [{"role": "user", "content": "hello"}]})
    assert scan(journal) == []
    [entry] = _journal_lines(journal)
    assert "application/json" in entry["text"]
    assert '"hello"' in entry["text"]


def test_the_session_is_set_up() -> None:
    assert os.environ.get(JOURNAL_ENV)
    assert set(CANARIES) <= registered()
    assert logging.getLogger("steward").getEffectiveLevel() <= logging.INFO


# -- every way out ------------------------------------------------------------------------------

@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegram, TelegramChannel]]:
    fake = FakeTelegram()
    await fake.start()
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        yield fake, TelegramChannel(bot)
    await fake.stop()


async def test_telegram_messages_are_redacted(
        telegram: tuple[FakeTelegram, TelegramChannel]) -> None:
    fake, channel = telegram
    ref = await channel.send(HOME, f"key: {CANARY_OPENAI_KEY}", plain=True)
    await channel.edit(ref, f"<b>now</b> {CANARY_EXTRA_SECRET}")
    await channel.send_file(HOME, "a.txt", b"x", f"caption {CANARY_ANTHROPIC_KEY}")
    # A secret straddling the split point would slip through a per-part redaction.
    long = "x" * 4090 + CANARY_OPENAI_KEY + " tail"
    await send_long(channel, HOME, long)
    first, *parts = fake.texts()
    others = [str(s.params.get("text") or s.params.get("caption"))
              for s in fake.sent if s.method != "sendMessage"]
    shown = [first, "".join(parts), *others]
    assert not any(c in text for c in CANARIES for text in shown)
    assert [text.count(REDACTED) for text in shown] == [1, 1, 1, 1]


async def test_the_console_is_redacted() -> None:
    out = io.StringIO()
    console = ConsoleChannel(out)
    ref = await console.send("console", f"token {CANARY_BOT_TOKEN}")
    await console.edit(ref, CANARY_EXTRA_SECRET)
    await console.send_file("console", "f.txt", b"", CANARY_OPENAI_KEY)
    assert not any(c in out.getvalue() for c in CANARIES)
    assert out.getvalue().count(REDACTED) == 3


async def test_the_model_never_sees_a_secret(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "steward.db")
    try:
        async with serving() as server:
            gateway = Gateway({"openai": openai_provider(server)}, table({"mid": ["openai/m"]}),
                              GatewayRepo(store), GatewayConfig(5.0))
            request = Request("mid", (
                Message.user(f"my key is {CANARY_OPENAI_KEY}"),
                Message("assistant", (ToolCall("c1", "fetch", {"token": CANARY_EXTRA_SECRET}),)),
                Message.tool_results(ToolResult("c1", f"page: {CANARY_BOT_TOKEN}"))),
                stable_prefix=f"persona {CANARY_ANTHROPIC_KEY}")
            done = await gateway.complete(request)
            await gateway.aclose()
            _assert_clean(server)
    finally:
        store.close()
    assert done.message.text.startswith("echo:")


def _assert_clean(server: FakeLLM) -> None:
    body = json.dumps(server.last.body)
    assert not any(c in body for c in CANARIES)
    assert body.count(REDACTED) == 4


def test_log_lines_are_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("canary-test")
    log.addHandler(handler)
    log.propagate = False  # keep the raw record out of the session journal
    try:
        log.warning("calling with %s and %s", CANARY_OPENAI_KEY, CANARY_EXTRA_SECRET)
    finally:
        log.removeHandler(handler)
    assert stream.getvalue() == f"calling with {REDACTED} and {REDACTED}\n"
