"""Building blocks for coding-agent tests: fake ``claude``/``codex`` on PATH, a real engine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine.loop import Engine, EngineConfig
from engine.model import JSON, BackendName, Job, JobSpec, Trust
from engine.store.sqlite import SqliteStore
from engine.workers.agent_cli import ClaudeCli, CodexCli
from engine.workers.coding_agent import AgentConfig, CodingAgentBackend
from engine.workers.sessions import SessionRepo, WorkerConfig
from tests.fakes.clock import FakeClock

FAKES = Path(__file__).parents[1] / "fakes"
DEADLINE_S = 15.0


def install_fakes(bin_dir: Path, which: tuple[str, ...] = ("claude", "codex")) -> None:
    """Tiny launchers named like the real CLIs, running the fakes with this Python."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in which:
        launcher = bin_dir / name
        launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKES / f"fake_{name}.py"}" '
                            '"$@"\n')
        launcher.chmod(0o755)


@dataclass
class Agents:
    """A data dir with a store, both agent backends on the fakes, and what the fakes logged."""

    root: Path
    store: SqliteStore
    clock: FakeClock
    environ: dict[str, str]
    config: AgentConfig = field(default_factory=lambda: AgentConfig(
        kill_grace_s=1.0, pass_env=("FAKE_AGENT_LOG", "FAKE_AGENT_MODE")))

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def workspace(self) -> Path:
        return self.data_dir / "workspace"

    @property
    def repo(self) -> SessionRepo:
        return SessionRepo(self.store)

    def backends(self) -> dict[BackendName, CodingAgentBackend]:
        return {BackendName.CLAUDE_CODE: self.backend(ClaudeCli()),
                BackendName.CODEX: self.backend(CodexCli())}

    def backend(self, cli: ClaudeCli | CodexCli) -> CodingAgentBackend:
        return CodingAgentBackend(cli, self.repo, self.workspace, config=self.config,
                                  environ=self.environ, clock=self.clock)

    def engine(self, store: SqliteStore | None = None) -> Engine:
        return Engine(store or self.store, dict(self.backends()),
                      EngineConfig(self.data_dir, grace_s=0.05))

    def add(self, name: str, backend: str = "claude_code", **kw: Any) -> WorkerConfig:
        worker = WorkerConfig(name, backend, **kw)
        assert self.repo.add_worker(worker, self.clock())
        return worker

    def calls(self) -> list[dict[str, Any]]:
        log = Path(self.environ["FAKE_AGENT_LOG"])
        return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def make_agents(tmp_path: Path) -> Agents:
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    install_fakes(bin_dir)
    home.mkdir()
    environ = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
               "FAKE_AGENT_LOG": str(tmp_path / "calls.jsonl")}
    store = SqliteStore.open(tmp_path / "data" / "steward.db")
    return Agents(tmp_path, store, FakeClock(time.time()), environ)


def spec(prompt: str, backend: BackendName = BackendName.CLAUDE_CODE, *,
         trust: Trust = Trust.COMMAND, key: str | None = None, timeout_s: float | None = None,
         max_attempts: int = 1, **payload: JSON) -> JobSpec:
    return JobSpec(backend, {"prompt": prompt, **payload}, trust=trust, idempotency_key=key,
                   timeout_s=timeout_s, max_attempts=max_attempts)


async def run_job(engine: Engine, job: JobSpec) -> Job:
    job_id = engine.submit(job)
    await engine.run_until_idle()
    return engine.store.get_job(job_id)


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie has: it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def kill_leftovers(root: Path) -> None:
    """Kill whatever a test left running: only processes whose pid files lie under ``root``."""
    for pid_file in [*root.rglob("pid"), *root.rglob("*.pid")]:
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text())
            if not gone(pid) and str(root) in Path(f"/proc/{pid}/cmdline").read_text() + \
                    os.readlink(f"/proc/{pid}/cwd"):
                os.kill(pid, signal.SIGKILL)
