"""The llm backend's pure steps: pending tool calls, accounting, answers, gateway errors."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.gateway.errors import (
    NoProviderAvailable,
    ProviderDown,
    RateLimited,
    RequestRejected,
    SpendCapReached,
)
from engine.gateway.messages import Completion, Message, Text, ToolCall, ToolResult, Usage
from engine.model import FailureClass
from engine.signals import Fail, Retry
from engine.workers.llm import (
    account,
    parse_answer,
    result,
    schema_problem,
    signal_for,
    unanswered,
    until_next_day,
    with_result,
)
from engine.workers.llm_checkpoint import Progress

CALLS = Message("assistant", (Text("looking"), ToolCall("a", "t", {}), ToolCall("b", "t", {})))


def test_unanswered_calls_are_those_of_the_last_assistant_message_without_a_result() -> None:
    assert unanswered((Message.user("go"),)) == ()
    assert [c.id for c in unanswered((Message.user("go"), CALLS))] == ["a", "b"]
    half = (Message.user("go"), CALLS, Message.tool_results(ToolResult("a", "done")))
    assert [c.id for c in unanswered(half)] == ["b"]
    full = (*half[:2], Message.tool_results(ToolResult("a", "x"), ToolResult("b", "y")))
    assert unanswered(full) == ()
    assert unanswered((*full, Message.assistant("answer"))) == ()


def test_results_of_one_turn_share_one_tool_message() -> None:
    progress = Progress("k", (Message.user("go"), CALLS))
    progress = with_result(with_result(progress, ToolResult("a", "x")), ToolResult("b", "y"))
    assert progress.messages[-1] == Message.tool_results(ToolResult("a", "x"),
                                                         ToolResult("b", "y"))
    assert len(progress.messages) == 3


def test_account_adds_the_message_usage_cost_and_model() -> None:
    completion = Completion(Message.assistant("hi"), Usage(100, 20, 60), "openai", "gpt-5-mini",
                            "mid", 0.002, "end_turn", 12.0)
    once = account(Progress("k", (Message.user("go"),)), completion)
    twice = account(once, completion)
    assert twice.turns == 2
    assert twice.usage == {"input_tokens": 200, "output_tokens": 40, "cached_tokens": 120}
    assert twice.cost_usd == pytest.approx(0.004)
    assert twice.model == "openai/gpt-5-mini"
    assert twice.messages[-1] == Message.assistant("hi")


@pytest.mark.parametrize(("text", "value"), [
    ('{"a": 1}', {"a": 1}),
    ('```json\n{"a": 1}\n```', {"a": 1}),
    ("```\n[1, 2]\n```", [1, 2]),
    (" 42 ", 42),
])
def test_parse_answer_reads_json_with_or_without_a_fence(text: str, value: object) -> None:
    assert parse_answer(text) == value


def test_schema_problem_names_what_is_wrong() -> None:
    schema = {"type": "object", "required": ["city"]}
    assert schema_problem('{"city": "Oslo"}', schema) is None
    assert schema_problem("anything", None) is None
    assert "not JSON" in (schema_problem("Oslo, I think", schema) or "")
    assert "'city' is a required property" in (schema_problem("{}", schema) or "")


def test_the_result_is_the_answer_with_its_accounting_or_the_parsed_json() -> None:
    progress = Progress("k", (), turns=3, cost_usd=0.0123456789, model="anthropic/claude",
                        answer='{"city": "Oslo"}', done=True)
    assert result(progress, None) == {
        "text": '{"city": "Oslo"}', "turns": 3, "cost_usd": 0.012346, "model": "anthropic/claude",
        "usage": {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}}
    assert result(progress, {"type": "object"}) == {"city": "Oslo"}
    reviewed = Progress("k", (), answer="x", verdict={"passed": True})
    assert result(reviewed, None)["review"] == {"passed": True}


NOW = datetime(2026, 3, 28, 22, 30, tzinfo=UTC).timestamp()


def test_gateway_errors_become_retries_or_failures() -> None:
    limited = signal_for(RateLimited("HTTP 429", status=429, retry_after_s=7.0), NOW, UTC)
    assert isinstance(limited, Retry)
    assert (limited.failure_class, limited.delay_s) == (FailureClass.RATE_LIMIT, 7.0)
    down = signal_for(ProviderDown("HTTP 503", status=503), NOW, UTC)
    assert isinstance(down, Retry)
    assert down.failure_class is FailureClass.SERVER_ERROR
    refused = signal_for(RequestRejected("HTTP 400: bad", status=400), NOW, UTC)
    assert isinstance(refused, Fail)
    assert refused.failure_class is FailureClass.INVALID_INPUT
    none = signal_for(NoProviderAvailable("nothing configured"), NOW, UTC)
    assert isinstance(none, Fail)
    wait = signal_for(NoProviderAvailable("breakers open", transient=True, retry_after_s=60.0),
                      NOW, UTC)
    assert isinstance(wait, Retry)
    assert wait.delay_s == 60.0


def test_the_spend_cap_holds_the_job_until_the_next_spend_day() -> None:
    capped = signal_for(SpendCapReached(5.0, 5.01, "2026-03-28"), NOW, UTC)
    assert isinstance(capped, Retry)
    assert capped.failure_class is FailureClass.RATE_LIMIT
    assert capped.delay_s == pytest.approx(90 * 60)
    assert "daily spend cap" in capped.reason


def test_the_next_day_is_found_across_a_daylight_saving_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    before = datetime(2026, 3, 28, 23, 0, tzinfo=berlin).timestamp()
    assert until_next_day(before, berlin) == pytest.approx(3600)
    night = datetime(2026, 3, 29, 1, 0, tzinfo=berlin).timestamp()
    assert until_next_day(night, berlin) == pytest.approx(22 * 3600)
