"""A Steward engine in a process of its own, running one coding-agent job, for a test to SIGKILL."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from engine.loop import Engine, EngineConfig
from engine.model import BackendName, JobSpec
from engine.store.sqlite import SqliteStore
from engine.workers.agent_cli import ClaudeCli
from engine.workers.coding_agent import AgentConfig, CodingAgentBackend
from engine.workers.sessions import SessionRepo


async def main(data_dir: Path, environ: dict[str, str], prompt: str, key: str) -> None:
    store = SqliteStore.open(data_dir / "steward.db")
    backend = CodingAgentBackend(ClaudeCli(), SessionRepo(store), data_dir / "workspace",
                                 config=AgentConfig(pass_env=("FAKE_AGENT_LOG",)),
                                 environ=environ, clock=time.time)
    engine = Engine(store, {BackendName.CLAUDE_CODE: backend}, EngineConfig(data_dir))
    engine.submit(JobSpec(BackendName.CLAUDE_CODE, {"prompt": prompt}, idempotency_key=key))
    await engine.run_until_idle()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]))
