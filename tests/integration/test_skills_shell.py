"""The ``shell`` skill: a command job on the real shell backend, only after the owner's approval,
bounded in time and output, keyed so it never runs twice, stopped with its caller."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from engine.model import BackendName, JobState, Trust
from engine.rules.cards import Tap
from skills.gate import APPROVAL_CHOICES
from tests.integration.skills_kit import SkillRig, skill_rig, until


async def _approve(rig: SkillRig, job_id: int) -> None:
    """What the bot's card desk and the owner's tap do for a parked job."""
    card = rig.link.cards.open("run it?", APPROVAL_CHOICES, job_id=job_id)
    await rig.tap(card.id, "approve")


async def test_a_command_waits_for_approval_then_runs_once(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        job = await rig.run("shell", {"command": "echo ran >> marker; cat marker"})
        assert job.state is JobState.AWAITING_APPROVAL
        assert not (rig.workspace / "marker").exists()
        assert rig.jobs(BackendName.SHELL) == []
        await _approve(rig, job.id)
        done = rig.store.get_job(job.id)
        assert done.state is JobState.DONE, done.error
        assert done.result["exit_code"] == 0
        assert done.result["stdout"] == "ran\n"
        [command] = rig.jobs(BackendName.SHELL)
        assert command.trust is Trust.COMMAND
        assert command.idempotency_key.startswith(
            f"shell:{job.id}:")
        assert (rig.workspace / "marker").read_text() == "ran\n"


async def test_a_data_job_s_command_is_data_too(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        job = await rig.run("shell", {"command": "pwd"}, trust=Trust.DATA)
        await _approve(rig, job.id)
        [command] = rig.jobs(BackendName.SHELL)
        assert command.trust is Trust.DATA
        assert rig.store.get_job(job.id).result["stdout"].strip() == str(rig.workspace)


async def test_a_command_that_never_ends_is_stopped(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        job = await rig.run("shell", {"command": "sleep 60", "timeout_s": 0.5})
        started = time.monotonic()
        await _approve(rig, job.id)
        assert time.monotonic() - started < 15
        failed = rig.store.get_job(job.id)
        assert failed.state is JobState.FAILED
        assert "timed out after" in (failed.error or "")


async def test_a_flood_of_output_is_capped(tmp_path: Path) -> None:
    with skill_rig(tmp_path, shell_options={"output_cap_bytes": 10_000}) as rig:
        job = await rig.run("shell", {"command": "yes flood | head -c 5000000"})
        await _approve(rig, job.id)
        result = rig.store.get_job(job.id).result
        assert result["truncated"] is True
        assert len(result["stdout"]) <= 10_000


async def test_a_failing_command_says_why(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        job = await rig.run("shell", {"command": "echo broken >&2; exit 3"})
        await _approve(rig, job.id)
        failed = rig.store.get_job(job.id)
        assert failed.state is JobState.FAILED
        assert "exited with code 3: broken" in (failed.error or "")
        bad = await rig.run("shell", {"command": ""})
        assert "invalid command" in (bad.error or "")


async def test_stopping_the_caller_stops_its_command(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        job = await rig.run("shell", {"command": "sleep 30"})
        card = rig.link.cards.open("run it?", APPROVAL_CHOICES, job_id=job.id)
        stop = asyncio.Event()
        loop = asyncio.create_task(rig.engine.run(stop))
        try:
            rig.engine.resolve_card(rig.link.cards, Tap(card.id, "approve"))
            await until(lambda: [j for j in rig.jobs(BackendName.SHELL)
                                 if j.state is JobState.RUNNING])
            rig.engine.cancel(job.id)
            [command] = rig.jobs(BackendName.SHELL)
            await until(lambda: rig.store.get_job(command.id).state.terminal)
        finally:
            stop.set()
            await loop
        assert rig.store.get_job(job.id).state is JobState.CANCELLED
        assert rig.store.get_job(command.id).state is JobState.CANCELLED
