"""A Steward engine in a process of its own, sending the due e-mail, for a test to SIGKILL."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from engine.loop import Engine, EngineConfig
from engine.model import BackendName
from engine.store.sqlite import SqliteStore
from engine.workers.skill import SkillBackend
from skills.email_send import MailOutbox, SendPolicy
from skills.email_smtp import SmtpConfig
from skills.engine_link import EngineLink


async def main(data_dir: Path, port: int) -> None:
    store = SqliteStore.open(data_dir / "steward.db")
    link = EngineLink()
    outbox = MailOutbox(link, SmtpConfig("127.0.0.1", "steward@example.org", port=port,
                                         starttls=False, timeout_s=30.0), SendPolicy())
    engine = Engine(store, {BackendName.SKILL: SkillBackend(outbox.backend_skills())},
                    EngineConfig(data_dir))
    link.bind(engine)
    await engine.run_until_idle()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
