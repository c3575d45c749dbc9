"""A coding-agent run outlives Steward: adopted after a SIGKILL or a shutdown, never repeated."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.model import AttemptOutcome, JobState
from engine.rules.sessions import SessionState
from engine.store.sqlite import SqliteStore
from tests.integration.agent_kit import (
    Agents,
    gone,
    kill_leftovers,
    make_agents,
    spec,
    wait_for,
)

CRASH_CHILD = Path(__file__).parents[1] / "fakes" / "agent_crash_child.py"


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Agents]:
    kit = make_agents(tmp_path)
    yield kit
    kit.store.close()
    kill_leftovers(tmp_path)


def runner_pid(agents: Agents) -> int:
    (run,) = (agents.data_dir / "runs").iterdir()
    return int((run / "pid").read_text())


def agent_pid_of(gate: Path) -> int:
    """The pid the fake agent wrote beside its gate."""
    return int(Path(f"{gate}.pid").read_text())


def gated(agents: Agents, prompt: str) -> tuple[str, Path, Path]:
    gate, effects = agents.root / "gate", agents.root / "effects"
    return f"{prompt} [[wait={gate}]] [[touch={effects}]]", gate, effects


async def test_a_sigkilled_steward_adopts_the_agent_run_and_it_happens_once(
        agents: Agents) -> None:
    prompt, gate, effects = gated(agents, "refactor the parser")
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CRASH_CHILD), str(agents.data_dir), json.dumps(agents.environ),
        prompt, "crash-1")
    try:
        await wait_for(Path(f"{gate}.pid").exists, "the agent to start in the child")
    finally:
        child.kill()
        await child.wait()
    assert not gone(runner_pid(agents))  # the runner outlived its Steward
    engine = agents.engine()
    asyncio.get_running_loop().call_later(0.2, gate.touch)

    assert engine.recover() == 1
    await engine.run_until_idle()

    (job,) = agents.store.list_jobs(10)
    assert job.state is JobState.DONE, job.error
    assert job.recoveries == 1
    assert effects.read_text().splitlines() == ["crash-1"]
    assert len(agents.calls()) == 1
    assert [a.outcome for a in agents.store.attempts_of(job.id)] == [AttemptOutcome.CRASHED,
                                                                      AttemptOutcome.DONE]
    (session,) = agents.repo.listing(10)
    assert (session.turns, session.state) == (1, SessionState.IDLE)
    assert job.result["session"] == session.id


async def test_a_shutdown_hands_the_run_to_the_next_start(agents: Agents) -> None:
    prompt, gate, effects = gated(agents, "migrate the db")
    first = agents.engine()
    job_id = first.submit(spec(prompt, key="handed-back"))
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))
    await wait_for(Path(f"{gate}.pid").exists, "the agent to start")

    stop.set()
    await task

    assert agents.store.get_job(job_id).state is JobState.READY
    agent_pid = agent_pid_of(gate)
    assert not gone(agent_pid)
    second_store = SqliteStore.open(agents.data_dir / "steward.db")
    try:
        asyncio.get_running_loop().call_later(0.2, gate.touch)
        await agents.engine(second_store).run_until_idle()
        assert second_store.get_job(job_id).state is JobState.DONE
    finally:
        second_store.close()
    assert effects.read_text().splitlines() == ["handed-back"]
    assert len(agents.calls()) == 1


async def test_cancelling_stops_the_agent_and_frees_its_session(agents: Agents) -> None:
    prompt, gate, _ = gated(agents, "long task")
    engine = agents.engine()
    job_id = engine.submit(spec(prompt, key="stop-me"))
    task = asyncio.create_task(engine.run_until_idle())
    await wait_for(Path(f"{gate}.pid").exists, "the agent to start")
    agent_pid = agent_pid_of(gate)

    engine.cancel(job_id)
    await task

    assert engine.store.get_job(job_id).state is JobState.CANCELLED
    await wait_for(lambda: gone(agent_pid), "the agent to be stopped")
    (session,) = agents.repo.listing(10)
    assert session.state is SessionState.IDLE
    (view,) = agents.repo.overview()
    assert view.state == "idle"
