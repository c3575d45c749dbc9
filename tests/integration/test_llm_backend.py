"""The llm backend through the real engine, gateway and SDKs, against fake provider servers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from engine.gateway.errors import RateLimited
from engine.gateway.messages import Message, Request
from engine.model import FailureClass, JobState
from engine.workers.llm import LlmConfig, until_next_day
from tests.fakes.llm_servers import (
    Call,
    Fault,
    Reply,
    bad_arguments,
    empty,
    rate_limited,
    unknown_tool,
)
from tests.integration.llm_kit import OPENAI, rig, system_text, tool_messages


async def test_a_plain_prompt_is_answered_with_its_accounting(tmp_path: Path) -> None:
    async with rig(tmp_path, config=LlmConfig(persona="You are Steward.")) as r:
        job = await r.run({"prompt": "hello"})
        assert job.state is JobState.DONE, job.error
        assert job.result["text"] == "echo: hello"
        assert job.result["turns"] == 1
        assert job.result["model"] == OPENAI
        assert job.result["usage"]["input_tokens"] > 0
        assert job.result["cost_usd"] > 0
        sent = r.openai.last.body
        assert sent["messages"][0] == {"role": "system", "content": "You are Steward."}
        assert "tools" not in sent
        folder = tmp_path / "sessions" / f"job-{job.id}"
        assert "## Answer\n\necho: hello" in (folder / "progress.md").read_text()
        assert json.loads((folder / "progress.json").read_text())["done"] is True


async def test_a_multi_turn_tool_conversation(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        r.openai.push(Reply(calls=(Call("add", {"a": 2, "b": 3}),)),
                      Reply("Noting it.", calls=(Call("note", {"text": "sum is 5"}),
                                                 Call("add", {"a": 5, "b": 5}))),
                      Reply("2 + 3 = 5, noted."))
        job = await r.run({"prompt": "add 2 and 3, then note it", "skills": ["add", "note"]})
        assert job.state is JobState.DONE, job.error
        assert job.result["text"] == "2 + 3 = 5, noted."
        assert job.result["turns"] == 3
        assert r.calls.log == [("add", {"a": 2, "b": 3}), ("note", {"text": "sum is 5"}),
                               ("add", {"a": 5, "b": 5})]
        second, third = r.openai.requests[1], r.openai.requests[2]
        assert [t["function"]["name"] for t in second.body["tools"]] == ["add", "note"]
        first_result = tool_messages(second)[0]["content"]
        assert first_result == '<tool-output name="add">\n5\n</tool-output>'
        assert len(tool_messages(third)) == 3
        assert "Tools you may call:\n- add: Add two whole numbers.\n- note:" in \
            system_text(second)


async def test_an_unknown_tool_is_answered_with_an_error_not_a_crash(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        r.openai.push(unknown_tool(), Reply("Sorry, I will answer directly."))
        job = await r.run({"prompt": "do it", "skills": ["add"]})
        assert job.state is JobState.DONE, job.error
        error = tool_messages(r.openai.last)[0]["content"]
        assert error.startswith("Error: there is no tool named 'no_such_tool'")
        assert error.endswith("the tools you may call are: add")
        assert r.calls.log == []


async def test_invalid_arguments_are_refused_with_the_reason(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        r.openai.push(Reply(calls=(Call("add", {"a": "two", "b": 3}),)), bad_arguments("add"),
                      Reply(calls=(Call("add", {"a": 1}),)), Reply("I give up."))
        job = await r.run({"prompt": "add", "skills": ["add"]})
        assert job.state is JobState.DONE, job.error
        errors = [tool_messages(r.openai.requests[i])[-1]["content"] for i in (1, 2, 3)]
        assert "at a: 'two' is not of type 'integer'" in errors[0]
        assert "must be one JSON object" in errors[1]
        assert "'b' is a required property" in errors[2]
        assert all(e.startswith("Error: ") for e in errors)
        assert r.calls.log == []


async def test_a_model_that_loops_on_tool_calls_fails_cleanly(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        r.openai.push(*[Reply(calls=(Call("note", {"text": f"n{i}"}),)) for i in range(10)])
        job = await r.run({"prompt": "loop", "skills": ["note"], "max_turns": 3})
        assert job.state is JobState.FAILED
        assert job.error == "the model kept calling tools for 3 turns"
        assert job.failure_class is FailureClass.OTHER
        assert len(r.attempts(job.id)) == 1
        assert len(r.openai.requests) == 3
        assert len(r.calls.names("note")) == 2


async def test_an_empty_completion_is_retried_and_then_fails_for_a_reason(
        tmp_path: Path) -> None:
    async with rig(tmp_path, {"mid": [OPENAI]}) as r:
        r.openai.push(empty(), Reply("here it is"))
        job = await r.run({"prompt": "q"})
        assert job.state is JobState.DONE, job.error
        first = r.attempts(job.id)[0]
        assert first.error is not None
        assert "empty completion" in first.error
        r.openai.push(empty(), empty())
        job = await r.run({"prompt": "q2"}, max_attempts=2)
        assert job.state is JobState.FAILED
        assert job.error is not None
        assert "empty completion" in job.error
        assert len(r.attempts(job.id)) == 2


async def test_a_429_is_retried_after_its_retry_after(tmp_path: Path) -> None:
    async with rig(tmp_path, {"mid": [OPENAI]}) as r:
        r.openai.push(rate_limited(retry_after_ms="80"))
        job = await r.run({"prompt": "hello"})
        assert job.state is JobState.DONE, job.error
        first, second = r.attempts(job.id)
        assert first.failure_class is FailureClass.RATE_LIMIT
        assert second.started_at - first.finished_at >= 0.07
        assert job.result["text"] == "echo: hello"


async def test_a_resting_provider_is_waited_for_within_the_attempt(tmp_path: Path) -> None:
    async with rig(tmp_path, {"mid": [OPENAI]}) as r:
        r.openai.push(rate_limited(retry_after_ms="150"))
        with pytest.raises(RateLimited):
            await r.gateway.complete(Request("mid", (Message.user("park it"),)))
        job = await r.run({"prompt": "hello"})
        assert job.state is JobState.DONE, job.error
        assert len(r.attempts(job.id)) == 1
        assert r.openai.last.at - r.openai.requests[0].at >= 0.14


async def test_a_429_on_one_provider_falls_through_to_the_other(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        r.openai.push(rate_limited(retry_after="30"))
        job = await r.run({"prompt": "hello"})
        assert job.state is JobState.DONE, job.error
        assert job.result["model"] == "anthropic/claude-test"
        assert len(r.attempts(job.id)) == 1


async def test_a_refused_request_fails_at_once(tmp_path: Path) -> None:
    async with rig(tmp_path, {"mid": [OPENAI]}) as r:
        r.openai.push(Fault("status", 400))
        job = await r.run({"prompt": "hello"})
        assert job.state is JobState.FAILED
        assert job.failure_class is FailureClass.INVALID_INPUT
        assert len(r.attempts(job.id)) == 1


async def test_a_bad_payload_or_an_unknown_skill_fails_as_invalid_input(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        job = await r.run({"prompt": "x", "skills": ["add", "teleport"]})
        assert job.state is JobState.FAILED
        assert job.failure_class is FailureClass.INVALID_INPUT
        assert job.error == ("llm payload: unknown skill 'teleport'; registered: add, big, "
                             "flaky, note")
        job = await r.run({"promt": "x"})
        assert job.failure_class is FailureClass.INVALID_INPUT
        assert r.requests() == []


async def test_the_spend_cap_holds_the_job_until_the_next_day(tmp_path: Path) -> None:
    async with rig(tmp_path, spend_cap_usd=0.0) as r:
        job_id = r.submit({"prompt": "hello"})
        await r.engine.run_until_idle()
        job = r.store.get_job(job_id)
        assert job.state is JobState.WAITING
        assert job.failure_class is FailureClass.RATE_LIMIT
        assert job.error is not None
        assert "daily spend cap reached" in job.error
        assert abs(job.not_before - time.time() - until_next_day(time.time(), LlmConfig().zone)) \
            < 60
        assert r.requests() == []
