"""Bad input to the bot (issues 4 and 5): media it cannot read, a 10,000-character message, memory
commands with wrong or enormous arguments. Each gets a short answer; nothing is lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.commands import Request
from bot.core import BotCore
from bot.memory_wiring import MemoryParts, open_memory
from bot.settings import Settings
from bot.telegram.handlers import CANNOT_READ
from memory.records import MAX_TEXT_BYTES
from tests.fakes.telegram_server import Sent
from tests.integration.bot_kit import OWNER, EchoModel, engine_on, running_bot

TELEGRAM_LIMIT = 4096

MEDIA: dict[str, Any] = {
    "sticker": {"file_id": "s1", "file_unique_id": "us1", "width": 512, "height": 512,
                "is_animated": False, "is_video": False, "type": "regular"},
    "photo": [{"file_id": "p1", "file_unique_id": "up1", "width": 90, "height": 90}],
    "voice": {"file_id": "v1", "file_unique_id": "uv1", "duration": 3},
    "location": {"latitude": 38.7, "longitude": -9.1},
}


def ask(text: str) -> Request:
    return Request(text, "console", "console:test:1")


def to_owner(sent: list[Sent]) -> list[str]:
    return [str(s.params["text"]) for s in sent if s.params.get("chat_id") == OWNER]


async def test_media_it_cannot_read_get_one_short_answer_each(tmp_path: Path) -> None:
    model = EchoModel()
    async with running_bot(tmp_path, model) as r:
        for kind, value in MEDIA.items():
            r.fake.message(OWNER, None, **{kind: value})
        replies = to_owner(await r.fake.wait_sent("sendMessage", len(MEDIA)))
        jobs = r.jobs()
    assert replies == [CANNOT_READ] * len(MEDIA)
    assert jobs == []
    assert model.jobs == []


async def test_a_10000_character_message_is_answered_in_parts(tmp_path: Path) -> None:
    text = " ".join(f"word{i:04d}" for i in range(1112))[:10_000]
    async with running_bot(tmp_path, EchoModel()) as r:
        r.fake.message(OWNER, text)
        parts = to_owner(await r.fake.wait_sent("sendMessage", 3, timeout_s=10))
        [job] = r.jobs()
    assert len(text) == 10_000
    assert job.payload["prompt"] == text
    assert all(len(p) <= TELEGRAM_LIMIT for p in parts)
    assert "".join(parts).replace("\n", " ").split() == f"echo: {text}".split()


@pytest.mark.parametrize(("command", "answer"), [
    ("/remember " + "x" * (MAX_TEXT_BYTES + 1), "I couldn't keep that: "),
    ("/remember    ", "Usage: /remember TEXT"),
    ("/recall", "Usage: /recall QUERY"),
    ("/forget abc", "Usage: /forget ID"),
    ("/forget -3", "Usage: /forget ID"),
    ("/recall Wo ist mein Zahnarzttermin?", "Nothing in memory matches that."),
    ("/new please", "Starting a fresh conversation"),
], ids=["enormous", "blank", "no-query", "not-a-number", "negative", "german", "new"])
async def test_memory_commands_with_bad_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  command: str, answer: str) -> None:
    monkeypatch.setenv("STEWARD_DATA_DIR", str(tmp_path))
    engine = engine_on(tmp_path)
    parts = open_memory(Settings(), engine.store)

    async def memory() -> MemoryParts:
        return parts

    try:
        reply = await BotCore(engine, llm=False, memory=memory).commands().handle(ask(command))
        assert parts.archival.count() == 0
    finally:
        await parts.close()
        engine.store.close()
    assert reply.text.startswith(answer)
    assert len(reply.text) < 400
