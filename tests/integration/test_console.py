"""The console channel through a pipe: commands, chat answers, cards answered with /tap."""

from __future__ import annotations

import asyncio
import io
import os
from datetime import UTC
from pathlib import Path

from bot.console import run_console
from bot.core import BotCore
from bot.notifier import NotifyConfig
from engine.model import BackendName, JobSpec, JobState
from tests.integration.bot_kit import EchoModel, Sender, engine_on, until


async def test_the_console_answers_commands_chat_and_cards(tmp_path: Path) -> None:
    sender = Sender()
    engine = engine_on(tmp_path, EchoModel(), {"send": sender})
    core = BotCore(engine, llm=True)
    read, write = os.pipe()
    out = io.StringIO()
    stop = asyncio.Event()
    with os.fdopen(read, "r") as stdin:  # closed after the writing end: the reader sees EOF
        tasks = [asyncio.create_task(engine.run(stop)), asyncio.create_task(run_console(
            core, NotifyConfig("console", UTC, poll_s=0.05), stop, stdin, out))]

        def say(line: str) -> None:
            os.write(write, (line + "\n").encode())

        say("/status")
        say("what's up?")
        await until(lambda: "echo: what's up?" in out.getvalue())
        job_id = engine.submit(JobSpec(BackendName.SKILL, {"skill": "send"}))
        await until(lambda: "Answer with /tap 1 N (N from 1 to 2)" in out.getvalue())
        say("/tap 1 1")
        await until(lambda: engine.store.get_job(job_id).state is JobState.DONE)
        say("/tap 1 2")
        say("/bogus")
        say("/quit")
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        os.close(write)
    text = out.getvalue()
    assert text.startswith("Steward console.")
    assert "Status\nJobs: none yet" in text
    assert "Decision needed\nJob 2 asks for approval to: send the e-mail to the landlord\n" in text
    assert "  1. Approve\n  2. Deny\n" in text
    assert "Done: Approve\n" in text
    assert "Already decided: Approve" in text
    assert "I don't know /bogus." in text
    assert "<" not in text.replace("<data", "")  # HTML is turned into plain text
    assert sender.sent == 1
    assert stop.is_set()
    engine.store.close()
