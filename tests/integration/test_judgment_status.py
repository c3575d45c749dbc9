"""``/status`` on the fake Bot API shows the share of background results that notified."""

from __future__ import annotations

import time
from pathlib import Path

from engine.judgment import Judgments
from engine.model import JSON, BackendName, JobSpec, Origin
from engine.workers.backend import RunContext
from tests.integration.bot_kit import OWNER, running_bot, until


async def report(args: dict[str, JSON], ctx: RunContext) -> JSON:
    return args.get("result")


async def test_status_shows_the_notify_rate(tmp_path: Path) -> None:
    async with running_bot(tmp_path, skills={"report": report}) as r:
        ids = [r.engine.submit(JobSpec(BackendName.SKILL, {"skill": "report", "args": {
            "result": {"importance": importance, "summary": f"news {importance}"}}},
            origin=Origin.RHYTHM, name=f"watch-{i}"))
            for i, importance in enumerate((0.9, 0.1, 0.1, 0.5))]
        judgments = Judgments(r.store, time.time)
        await until(lambda: all(judgments.of(i) is not None for i in ids))
        await r.fake.wait_sent("sendMessage")  # the one notice
        r.fake.message(OWNER, "/status")
        replies = await r.fake.wait_sent("sendMessage", 2)
    [notice, status] = [m.params["text"] for m in replies]
    assert notice == "news 0.9"
    assert ("Background results that notified: 1 of 4 (25.0%) in the last 7 days, "
            "1 of 4 (25.0%) today") in status
