"""The trust gate end to end on the real engine: what runs, what parks, what the owner's tap
does, and that a parked call runs exactly once — checked on files, jobs and cards."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engine.model import JSON, BackendName, JobState, Trust
from engine.workers.backend import Effects, RunContext
from security.risk import Risk
from skills.gate import APPROVAL_CHOICES
from skills.skill import Skill
from tests.integration.skills_kit import skill_rig


async def test_a_data_job_reads_freely_but_its_write_waits_for_the_owner(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "steward.skills")
    with skill_rig(tmp_path) as rig:
        (rig.workspace / "notes.txt").write_text("hello")
        caller = rig.caller(Trust.DATA)
        read = await rig.call(caller, "files_read", {"path": "notes.txt"})
        assert "hello" in read["text"]

        answer = await rig.call(caller, "files_write", {"path": "out.txt", "content": "x"})
        assert answer["status"] == "awaiting_approval"
        assert not (rig.workspace / "out.txt").exists()
        proxy = rig.store.get_job(answer["job"])
        assert (proxy.backend, proxy.trust, proxy.payload) == (
            BackendName.SKILL, Trust.DATA,
            {"skill": "files_write", "args": {"path": "out.txt", "content": "x"}})
        [card] = rig.cards()
        assert card.id == answer["card"]
        assert card.job_id == proxy.id
        assert "files_write (medium risk)" in card.question
        assert "content from outside" \
            in card.question

        again = await rig.call(caller, "files_write", {"path": "out.txt", "content": "x"})
        assert (again["job"], again["card"]) == (proxy.id, card.id)
        assert len(rig.cards()) == 1

        await rig.engine.run_until_idle()
        assert rig.store.get_job(proxy.id).state is JobState.AWAITING_APPROVAL
        assert not (rig.workspace / "out.txt").exists()

        await rig.tap(card.id, "approve")
        assert rig.store.get_job(proxy.id).state is JobState.DONE
        assert (rig.workspace / "out.txt").read_text() == "x"
        assert rig.store.effect_get(f"approved:{proxy.id}").state == "done"
        after = await rig.call(caller, "files_write", {"path": "out.txt", "content": "x"})
        assert after["status"] == "done"
    gate_lines = [r.getMessage() for r in caplog.records if "gate:" in r.getMessage()]
    assert any("run files_read: low risk is allowed at data trust" in m for m in gate_lines)
    assert any("ask files_write: medium risk at data trust" in m for m in gate_lines)
    assert any("run files_write: the owner approved it" in m for m in gate_lines)


async def test_a_refused_action_is_cancelled_and_never_runs(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        caller = rig.caller(Trust.DATA)
        answer = await rig.call(caller, "files_write", {"path": "out.txt", "content": "x"})
        await rig.engine.run_until_idle()
        await rig.tap(answer["card"], "deny")
        assert rig.store.get_job(answer["job"]).state is JobState.CANCELLED
        assert not (rig.workspace / "out.txt").exists()
        after = await rig.call(caller, "files_write", {"path": "out.txt", "content": "x"})
        assert after["status"] == "cancelled"


async def test_an_approval_tapped_before_the_job_parked_counts_and_runs_once(
        tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        caller = rig.caller(Trust.DATA)
        args: dict[str, JSON] = {"path": "log.txt", "content": "+", "append": True}
        answer = await rig.call(caller, "files_write", args)
        await rig.tap(answer["card"], "approve")
        proxy = rig.store.get_job(answer["job"])
        assert proxy.state is JobState.DONE
        assert (rig.workspace / "log.txt").read_text() == "+"
        # The same approved job run again (a crash before its outcome was recorded) gets the
        # recorded result; the action does not happen twice.
        run = rig.registry.backend_skills()["files_write"]
        ctx = RunContext(proxy, 2, rig.data_dir, Effects(rig.store, lambda: 0.0),
                         lambda: None, lambda: False)
        assert await run(args, ctx) == proxy.result
        assert (rig.workspace / "log.txt").read_text() == "+"


async def test_the_owner_runs_medium_actions_but_high_ones_wait(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        caller = rig.caller(Trust.COMMAND)
        done = await rig.call(caller, "files_write", {"path": "a.txt", "content": "a"})
        assert done == {"path": "a.txt", "bytes": 1, "appended": False}
        waiting = await rig.call(caller, "shell", {"command": "touch shell-ran"})
        assert waiting["status"] == "awaiting_approval"
        await rig.engine.run_until_idle()
        assert not (rig.workspace / "shell-ran").exists()
        assert rig.jobs(BackendName.SHELL) == []
        proxy = rig.store.get_job(waiting["job"])
        assert (proxy.trust, proxy.state) == (Trust.COMMAND, JobState.AWAITING_APPROVAL)


async def test_a_skill_job_on_data_parks_and_the_bot_card_approves_it(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        job = await rig.run("files_write", {"path": "b.txt", "content": "b"}, trust=Trust.DATA)
        assert job.state is JobState.AWAITING_APPROVAL
        assert job.error == 'awaiting approval: files_write (medium risk) with ' \
                            '{"content":"b","path":"b.txt"}'
        assert rig.cards() == []  # the bot's desk opens cards for jobs parked without one
        card = rig.link.cards.open("approve?", APPROVAL_CHOICES, job_id=job.id)
        await rig.tap(card.id, "approve")
        assert rig.store.get_job(job.id).state is JobState.DONE
        assert (rig.workspace / "b.txt").read_text() == "b"


async def test_core_memory_never_takes_an_edit_from_data(tmp_path: Path) -> None:
    edits: list[JSON] = []

    async def core_edit(args: dict[str, JSON], ctx: RunContext) -> JSON:
        edits.append(args)
        return {"edit": 1}

    probe = Skill("core_edit_probe", "Edits core.", {"type": "object"}, Risk.MEDIUM, core_edit,
                  data_refused=True)
    with skill_rig(tmp_path, extra=[probe]) as rig:
        caller = rig.caller(Trust.DATA)
        with pytest.raises(Exception, match="never runs for a job born from data"):
            await rig.call(caller, "core_edit_probe", {"op": "insert"})
        job = await rig.run("core_edit_probe", {"op": "insert"}, trust=Trust.DATA)
        assert job.state is JobState.FAILED
        assert "born from data" in (job.error or "")
        assert edits == []
        assert rig.cards() == []
        owner = await rig.run("core_edit_probe", {"op": "insert"})
        assert owner.state is JobState.DONE
        assert len(edits) == 1
