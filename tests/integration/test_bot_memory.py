"""Memory commands on real memory (LanceDB, MiniLM), and honest answers without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands import Reply, Request
from bot.core import BotCore
from bot.memory_wiring import MemoryParts, open_memory
from bot.settings import Settings
from tests.integration.bot_kit import engine_on


def ask(text: str) -> Request:
    return Request(text, "console", f"console:test:{text}")


async def test_remember_recall_forget_and_core(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_DATA_DIR", str(tmp_path))
    engine = engine_on(tmp_path)
    parts = open_memory(Settings(), engine.store)

    async def memory() -> MemoryParts:
        return parts

    commands = BotCore(engine, llm=False, memory=memory).commands()
    try:
        kept = await commands.handle(ask("/remember My passport expires in May 2027"))
        again = await commands.handle(ask("/remember My passport expires in May 2027"))
        found = await commands.handle(ask("/recall passport"))
        memory_id = kept.text.rsplit("memory ", 1)[1].rstrip(").")
        gone = await commands.handle(ask(f"/forget {memory_id}"))
        after = await commands.handle(ask("/recall passport"))
        missing = await commands.handle(ask("/forget 999"))
        core = await commands.handle(ask("/core"))
        empty = await commands.handle(ask("/remember"))
    finally:
        await parts.close()
        engine.store.close()
    assert kept.text.startswith("Remembered (memory ")
    assert again.text.startswith("I already knew that (memory ")
    assert "My passport expires in May 2027" in found.text
    assert gone == Reply(f"Forgotten: memory {memory_id} won't come up again.")
    assert after.text == "Nothing in memory matches that."
    assert missing.text == "There is no memory 999."
    assert core.text.startswith("<b>Core memory</b>\n<pre>")
    assert empty.text.startswith("Usage: /remember TEXT")


async def test_without_memory_or_a_model_the_answers_say_so(tmp_path: Path) -> None:
    engine = engine_on(tmp_path)
    commands = BotCore(engine, llm=False).commands()
    try:
        replies = {text: (await commands.handle(ask(text))).text
                   for text in ("/remember x", "/recall x", "/forget 1", "/core", "/costs",
                                "/briefing", "/pause news", "/run hello")}
    finally:
        engine.store.close()
    assert {replies[t] for t in ("/remember x", "/recall x", "/forget 1", "/core")} == {
        "Memory is not set up in this build, so I can't keep or look up memories yet."}
    assert replies["/costs"] == ("No model provider is configured, so nothing has been spent on "
                                 "models.")
    assert replies["/briefing"] == ("I can't brief you now: no rhythm called 'briefing'; "
                                    "known: none.")
    assert replies["/pause news"] == "no rhythm called 'news'; known: none."
    assert replies["/run hello"].startswith("No model provider is configured")
