"""Job tools and ``ask_owner`` on the real engine: spawning within depth and count limits with
trust inherited, pipelines, and a question card that resumes the job that asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.model import JSON, BackendName, JobState, Trust
from skills.errors import InvalidArguments, SkillRefused
from tests.integration.skills_kit import skill_rig


def _echo(n: int) -> dict[str, JSON]:
    return {"backend": "skill", "payload": {"skill": "echo", "args": {"n": n}}}


async def test_a_spawned_job_runs_with_the_spawner_s_trust_once(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        caller = rig.caller(Trust.COMMAND)
        first = await rig.call(caller, "spawn_job", _echo(1))
        again = await rig.call(caller, "spawn_job", _echo(1))
        assert first["job"] == again["job"]
        await rig.engine.run_until_idle()
        child = rig.store.get_job(first["job"])
        assert (child.state, child.trust, child.result) == (JobState.DONE, Trust.COMMAND,
                                                             {"n": 1})
        assert rig.link.lineage(child.id).depth == 1
        assert rig.link.spawned_by(caller.id) == 1
        status = await rig.call(caller, "job_status", {"job": child.id})
        assert status == {"job": child.id, "state": "done", "result": {"n": 1}}
        stranger = rig.submit("echo", {})
        with pytest.raises(SkillRefused, match="not spawned by this job"):
            await rig.call(caller, "job_status", {"job": stranger})


async def test_a_data_job_s_spawn_waits_and_its_child_is_data(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        caller = rig.caller(Trust.DATA)
        answer = await rig.call(caller, "spawn_job", {
            "backend": "llm", "payload": {"prompt": "do what the e-mail says"}})
        assert answer["status"] == "awaiting_approval"
        await rig.engine.run_until_idle()
        assert rig.jobs(BackendName.LLM) == [caller]
        await rig.tap(answer["card"], "approve")
        [_, child] = sorted(rig.jobs(BackendName.LLM), key=lambda j: j.id)
        assert child.trust is Trust.DATA
        assert rig.link.lineage(child.id).depth == 1
        assert rig.link.spawned_by(caller.id) == 1  # counted against the job that asked


async def test_nesting_stops_at_the_depth_limit(tmp_path: Path) -> None:
    nested: dict[str, JSON] = _echo(0)
    for level in range(5):
        nested = {"backend": "skill", "payload": {"skill": "spawn_job", "args": nested},
                  "name": f"level {level}"}
    with skill_rig(tmp_path) as rig:
        top = await rig.run("spawn_job", nested)
        assert top.state is JobState.DONE
        await rig.engine.run_until_idle()
        depths = {j.id: rig.link.lineage(j.id).depth for j in rig.jobs()}
        assert max(depths.values()) == 3
        deepest = [j for j in rig.jobs() if depths[j.id] == 3]
        assert [j.state for j in deepest] == [JobState.FAILED]
        assert "jobs may nest at most 3 deep" in (deepest[0].error or "")
        assert len(rig.jobs()) == 4


async def test_one_job_spawns_at_most_twenty(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        caller = rig.caller(Trust.COMMAND)
        for n in range(20):
            await rig.call(caller, "spawn_job", _echo(n))
        with pytest.raises(SkillRefused, match="at most 20 jobs; job 1 has spawned 20"):
            await rig.call(caller, "spawn_job", _echo(20))
        assert len(rig.jobs(BackendName.SKILL)) == 20


async def test_pipelines_spawn_with_trust_inherited_and_checked(tmp_path: Path) -> None:
    pipeline: dict[str, JSON] = {"name": "p", "steps": [
        {"name": "a", "backend": "skill", "payload": {"skill": "echo", "args": {"x": 1}}},
        {"name": "b", "backend": "skill", "needs": ["a"],
         "payload": {"skill": "echo", "args": {"got": "{{prev_result.x}}"}}}]}
    with skill_rig(tmp_path) as rig:
        caller = rig.caller(Trust.COMMAND)
        started = await rig.call(caller, "spawn_pipeline", {"pipeline": pipeline})
        again = await rig.call(caller, "spawn_pipeline", {"pipeline": pipeline})
        assert started["steps"] == 2
        assert again["job"] == started["job"]
        await rig.engine.run_until_idle()
        assert rig.store.get_job(started["job"]).result == {"got": 1}
        assert rig.link.spawned_by(caller.id) == 2
        shell_step = {"name": "q", "steps": [{"name": "s", "backend": "shell",
                                              "payload": {"command": "rm -rf ~"}}]}
        with pytest.raises(SkillRefused, match="steps on shell act without the trust gate"):
            await rig.call(caller, "spawn_pipeline", {"pipeline": shell_step})
        loop = {"name": "l", "steps": [{"name": "a", "backend": "skill", "needs": ["a"],
                                        "payload": {"skill": "echo"}}]}
        with pytest.raises(InvalidArguments, match="spawn_pipeline"):
            await rig.call(caller, "spawn_pipeline", {"pipeline": loop})
        assert rig.jobs(BackendName.SHELL) == []


async def test_a_coding_agent_is_high_risk(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        caller = rig.caller(Trust.COMMAND)
        answer = await rig.call(caller, "spawn_agent", {
            "backend": "codex", "payload": {"prompt": "refactor"}})
        assert answer["status"] == "awaiting_approval"
        assert rig.jobs(BackendName.CODEX) == []


async def test_ask_owner_parks_the_job_until_the_answer_resumes_it(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        job = await rig.run("ask_owner", {"question": "Book the 9:40 train?",
                                          "choices": ["Yes", "No", "Later"]})
        assert job.state is JobState.AWAITING_APPROVAL
        [card] = rig.cards()
        assert card.question == "Book the 9:40 train?"
        assert [(c.key, c.label) for c in card.choices] == [("c1", "Yes"), ("c2", "No"),
                                                             ("c3", "Later")]
        await rig.tap(card.id, "c2")
        done = rig.store.get_job(job.id)
        assert done.state is JobState.DONE
        assert done.result == {"card": card.id, "answer": "No"}
        assert len(rig.cards()) == 1


async def test_ask_owner_from_data_says_so_and_bad_choices_are_refused(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        await rig.run("ask_owner", {"question": "Pay the invoice?", "choices": ["Pay", "Skip"]},
                      trust=Trust.DATA)
        [card] = rig.cards()
        assert card.question.startswith("(Asked by a job working on content from outside.)")
        bad = await rig.run("ask_owner", {"question": "?", "choices": ["only one"]})
        assert bad.state is JobState.FAILED
        assert "invalid choices" in (bad.error or "")


async def test_only_skills_behind_the_gate_can_be_spawned(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        caller = rig.caller(Trust.COMMAND)
        for name in ("backup", "mail_deliver", None):
            with pytest.raises(SkillRefused, match="not a skill that can be spawned"):
                await rig.call(caller, "spawn_job", {
                    "backend": "skill", "payload": {"skill": name, "args": {}}})
        sneaky = {"name": "s", "steps": [{"name": "a", "backend": "skill",
                                          "payload": {"skill": "mail_deliver"}}]}
        with pytest.raises(SkillRefused, match="not a skill that can be spawned"):
            await rig.call(caller, "spawn_pipeline", {"pipeline": sneaky})
        assert rig.jobs(BackendName.SKILL) == []
