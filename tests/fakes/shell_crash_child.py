"""A Steward engine in a process of its own, running one shell job, for a test to SIGKILL."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from engine.loop import Engine, EngineConfig
from engine.model import BackendName, JobSpec
from engine.store.sqlite import SqliteStore
from engine.workers.shell import ShellBackend


async def main(data_dir: Path, command: str, key: str) -> None:
    store = SqliteStore.open(data_dir / "steward.db")
    backend = ShellBackend(data_dir / "workspace")
    engine = Engine(store, {BackendName.SHELL: backend}, EngineConfig(data_dir))
    engine.submit(JobSpec(BackendName.SHELL, {"command": command}, idempotency_key=key))
    await engine.run_until_idle()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
