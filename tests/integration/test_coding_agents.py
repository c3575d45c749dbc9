"""The claude_code and codex backends through the real engine, on fake CLIs run as processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.model import BackendName, FailureClass, JobSpec, JobState, Trust
from engine.rules.sessions import Limits, SessionState
from engine.workers.coding_agent import AgentConfig
from tests.integration.agent_kit import (
    Agents,
    gone,
    kill_leftovers,
    make_agents,
    run_job,
    spec,
    wait_for,
)

CLAUDE, CODEX = BackendName.CLAUDE_CODE, BackendName.CODEX


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Agents]:
    kit = make_agents(tmp_path)
    yield kit
    kit.store.close()
    kill_leftovers(tmp_path)


# -- start and resume ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", [CLAUDE, CODEX])
async def test_a_persistent_worker_resumes_its_session(agents: Agents,
                                                       backend: BackendName) -> None:
    agents.add("dev", backend.value, persistent=True)
    engine = agents.engine()

    first = await run_job(engine, spec("plan the feature", backend))
    second = await run_job(engine, spec("write the tests", backend))

    assert first.state is JobState.DONE, first.error
    assert second.state is JobState.DONE, second.error
    assert first.result["worker"] == second.result["worker"] == "dev"
    assert second.result["session"] == first.result["session"]
    assert second.result["resumed"] is True
    assert "Turn 2" in second.result["text"]
    assert "Earlier: plan the feature" in second.result["text"]
    (session,) = agents.repo.listing(10)
    assert (session.turns, session.reuse_count, session.state) == (2, 1, SessionState.IDLE)
    assert session.external_id == first.result["external_session"]


async def test_claude_is_started_with_our_id_and_resumed_with_it(agents: Agents) -> None:
    agents.add("dev", persistent=True, model="opus", persona="Be terse.", skills=("Read",))
    engine = agents.engine()

    first = await run_job(engine, spec("one"))
    await run_job(engine, spec("two"))

    sid = first.result["session"]
    start, resume = (c["argv"] for c in agents.calls())
    assert start[start.index("--session-id") + 1] == sid
    assert resume[resume.index("--resume") + 1] == sid
    assert "--session-id" not in resume
    assert start[start.index("--model") + 1] == "opus"
    assert start[start.index("--append-system-prompt") + 1] == "Be terse."
    assert start[start.index("--allowedTools") + 1] == "Read"
    assert start[start.index("--permission-mode") + 1] == "acceptEdits"
    assert first.result["cost_usd"] == pytest.approx(0.0125)
    assert first.result["usage"]["cached_tokens"] == 40


async def test_codex_resumes_the_thread_it_reported(agents: Agents) -> None:
    agents.add("dev", "codex", persistent=True, model="gpt-5")
    engine = agents.engine()

    first = await run_job(engine, spec("one", CODEX))
    await run_job(engine, spec("two", CODEX))

    thread = first.result["external_session"]
    assert thread
    assert thread != first.result["session"]
    start, resume = (c["argv"] for c in agents.calls())
    assert resume[-3:] == ["resume", thread, "-"]
    assert start[start.index("-m") + 1] == "gpt-5"
    assert "resume" not in start


async def test_a_job_from_data_runs_read_only(agents: Agents) -> None:
    engine = agents.engine()

    await run_job(engine, spec("summarise the repo", trust=Trust.DATA))
    await run_job(engine, spec("summarise the repo", CODEX, trust=Trust.DATA))

    claude, codex = (c["argv"] for c in agents.calls())
    assert claude[claude.index("--permission-mode") + 1] == "plan"
    assert codex[codex.index("--sandbox") + 1] == "read-only"


# -- routing order ------------------------------------------------------------------------------


async def test_routing_prefers_the_project_worker_then_an_idle_one(agents: Agents) -> None:
    agents.add("general", persistent=True)
    agents.add("site", persistent=True, project="site")
    engine = agents.engine()

    on_site = await run_job(engine, spec("fix the header", project="site"))
    general = await run_job(engine, spec("what is a monad"))
    elsewhere = await run_job(engine, spec("tidy up", project="other"))

    assert (on_site.result["worker"], on_site.result["routed"]) == ("site", "project")
    assert (general.result["worker"], general.result["routed"]) == ("general", "idle")
    assert (elsewhere.result["worker"], elsewhere.result["routed"]) == ("general", "idle")
    cwd = {c["prompt"]: c["cwd"] for c in agents.calls()}
    assert cwd["fix the header"] == str((agents.workspace / "site").resolve())
    assert cwd["what is a monad"] == str(agents.workspace.resolve())


async def test_an_explicit_worker_and_session_win(agents: Agents) -> None:
    agents.add("a", persistent=True)
    agents.add("b", persistent=True)
    engine = agents.engine()

    on_b = await run_job(engine, spec("start on b", worker="b"))
    await run_job(engine, spec("something on a", worker="a"))
    again = await run_job(engine, spec("continue", session=on_b.result["session"]))

    assert on_b.result["routed"] == "explicit_worker"
    assert (again.result["worker"], again.result["routed"]) == ("b", "explicit_session")
    assert "Earlier: start on b" in again.result["text"]


async def test_no_worker_means_a_new_ephemeral_one_with_a_fresh_session(
        agents: Agents) -> None:
    engine = agents.engine()

    first = await run_job(engine, spec("one"))
    second = await run_job(engine, spec("two"))

    assert first.result["routed"] == "new"
    assert second.result["routed"] == "idle"  # the ephemeral worker, now idle, is reused...
    assert second.result["worker"] == first.result["worker"]
    assert second.result["session"] != first.result["session"]  # ...but not its session
    (worker,) = [v for v in agents.repo.overview()]
    assert worker.worker.persistent is False


@pytest.mark.parametrize(("payload", "words"), [
    ({"worker": "nobody"}, "no worker 'nobody'"),
    ({"worker": "coder"}, "runs codex"),
    ({"session": "no-such-session"}, "does not exist"),
    ({"project": "../../etc"}, "outside the workspace"),
    ({"project": "/etc"}, "absolute path"),
])
async def test_a_request_that_cannot_be_routed_fails_clearly(
        agents: Agents, payload: dict[str, str], words: str) -> None:
    agents.add("coder", "codex")
    job = await run_job(agents.engine(), spec("hello", **payload))

    assert job.state is JobState.FAILED
    assert job.failure_class is FailureClass.INVALID_INPUT
    assert words in (job.error or "")
    assert agents.calls() == []


@pytest.mark.parametrize("payload", [{}, {"prompt": ""}, {"prompt": 3},
                                     {"prompt": "x", "worker": 5}, {"prompt": "x", "project": ""}])
async def test_a_bad_payload_is_refused_before_anything_runs(agents: Agents,
                                                             payload: dict[str, object]) -> None:
    engine = agents.engine()
    job_id = engine.submit(JobSpec(CLAUDE, payload, max_attempts=1))
    await engine.run_until_idle()

    job = engine.store.get_job(job_id)
    assert job.failure_class is FailureClass.INVALID_INPUT
    assert agents.calls() == []


# -- reuse checks and compaction ----------------------------------------------------------------


async def test_an_old_session_is_retired_and_a_new_one_started(agents: Agents) -> None:
    agents.add("dev", persistent=True, limits=Limits(max_age_s=3600))
    engine = agents.engine()

    first = await run_job(engine, spec("one"))
    agents.clock.advance(7200)
    second = await run_job(engine, spec("two"))

    assert second.result["session"] != first.result["session"]
    assert second.result["resumed"] is False
    old = agents.repo.session(first.result["session"])
    assert old is not None
    assert old.state is SessionState.RETIRED


async def test_a_session_reused_too_often_is_replaced(agents: Agents) -> None:
    agents.add("dev", persistent=True, limits=Limits(max_reuses=1))
    engine = agents.engine()

    jobs = [await run_job(engine, spec(f"step {n}")) for n in range(3)]

    sessions = [j.result["session"] for j in jobs]
    assert sessions[0] == sessions[1] != sessions[2]


@pytest.mark.parametrize("backend", [CLAUDE, CODEX])
async def test_an_oversized_session_is_compacted_not_abandoned(agents: Agents,
                                                               backend: BackendName) -> None:
    agents.add("dev", backend.value, persistent=True, limits=Limits(max_tokens=1000))
    engine = agents.engine()

    first = await run_job(engine, spec("design the schema [[tokens=5000]]", backend))
    second = await run_job(engine, spec("add an index", backend))

    assert second.state is JobState.DONE, second.error
    assert second.result["compacted_from"] == first.result["session"]
    assert second.result["session"] != first.result["session"]
    assert second.result["resumed"] is False
    summarise, fresh = agents.calls()[1:]
    assert summarise["prompt"].startswith("Summarise this session")
    assert "SUMMARY: design the schema" in fresh["prompt"]
    assert fresh["prompt"].endswith("Now: add an index")
    old = agents.repo.session(first.result["session"])
    assert old is not None
    assert old.state is SessionState.RETIRED
    third = await run_job(engine, spec("and a view", backend))
    assert third.result["session"] == second.result["session"]
    assert "Earlier:" in third.result["text"]


async def test_a_context_overflow_compacts_and_answers_in_one_attempt(agents: Agents) -> None:
    agents.add("dev", persistent=True)
    engine = agents.engine()

    await run_job(engine, spec("one"))
    job = await run_job(engine, spec("two [[too-long]]"))

    assert job.state is JobState.DONE, job.error
    assert job.attempts == 1
    assert job.result["compacted_from"] is not None


async def test_a_session_the_cli_lost_is_replaced_at_once(agents: Agents) -> None:
    agents.add("dev", persistent=True)
    engine = agents.engine()
    first = await run_job(engine, spec("one"))
    for transcript in (agents.root / "home").rglob("*.jsonl"):
        transcript.unlink()

    second = await run_job(engine, spec("two"))

    assert second.state is JobState.DONE, second.error
    assert second.attempts == 1
    assert second.result["session"] != first.result["session"]
    lost = agents.repo.session(first.result["session"])
    assert lost is not None
    assert lost.state is SessionState.RETIRED


# -- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", [CLAUDE, CODEX])
@pytest.mark.parametrize(("marker", "kind", "state"), [
    ("[[fail]]", FailureClass.OTHER, JobState.FAILED),
    ("[[rate-limit]]", FailureClass.RATE_LIMIT, JobState.WAITING),
    ("[[overloaded]]", FailureClass.SERVER_ERROR, JobState.WAITING),
])
async def test_an_agent_error_is_classified(agents: Agents, backend: BackendName, marker: str,
                                            kind: FailureClass, state: JobState) -> None:
    job = await run_job(agents.engine(), spec(f"go {marker}", backend, max_attempts=3))

    assert job.state is state
    assert job.failure_class is kind
    assert f"{'claude' if backend is CLAUDE else 'codex'} failed" in (job.error or "")
    assert all(s.state is SessionState.IDLE for s in agents.repo.listing(10))


async def test_a_missing_binary_fails_with_a_clear_message(agents: Agents) -> None:
    agents.environ["PATH"] = "/usr/bin:/bin"
    job = await run_job(agents.engine(), spec("hello"))

    assert job.state is JobState.FAILED
    assert job.error == "claude is not installed or not on PATH"
    assert agents.repo.listing(10) == []


async def test_a_hung_agent_is_killed_at_the_timeout(agents: Agents) -> None:
    started = time.monotonic()
    job = await run_job(agents.engine(), spec("think forever [[hang]]", timeout_s=0.5))

    assert job.state is JobState.FAILED
    assert job.failure_class is FailureClass.TIMEOUT
    assert time.monotonic() - started < 8
    (session,) = agents.repo.listing(10)
    assert session.state is SessionState.IDLE
    hung = int((agents.workspace / "hang.pid").read_text())
    await wait_for(lambda: gone(hung), "the hung agent to be killed")


async def test_a_flood_of_output_is_capped(agents: Agents) -> None:
    agents.config = AgentConfig(output_cap_bytes=1 << 20, kill_grace_s=1.0,
                                pass_env=agents.config.pass_env)
    job = await run_job(agents.engine(), spec("print it all [[flood]]"))

    assert job.state is JobState.FAILED
    assert "output was cut" in (job.error or "")


@pytest.mark.parametrize("backend", [CLAUDE, CODEX])
async def test_stray_lines_around_the_json_are_ignored(agents: Agents,
                                                       backend: BackendName) -> None:
    job = await run_job(agents.engine(), spec("hello [[garbage]]", backend))

    assert job.state is JobState.DONE, job.error
    assert "Turn 1" in job.result["text"]


async def test_an_agent_that_crashes_fails_without_a_result(agents: Agents) -> None:
    job = await run_job(agents.engine(), spec("go [[crash]]"))

    assert job.state is JobState.FAILED
    assert job.error == "claude failed: no result: the command was killed by signal 9 (Killed)"
