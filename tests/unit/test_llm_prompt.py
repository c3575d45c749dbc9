"""Reading an llm payload and assembling the prompt: pure, no model involved."""

from __future__ import annotations

import pytest

from engine.gateway.messages import Message, Text
from engine.model import JSON, FailureClass
from engine.signals import Fail
from engine.workers.backend import RunContext
from engine.workers.llm_prompt import (
    LlmConfig,
    feedback,
    opening,
    parse_task,
    recalled,
    stable_prefix,
    system_message,
)
from engine.workers.llm_tools import DATA_NOTE, Tool


async def _noop(args: dict[str, JSON], ctx: RunContext) -> JSON:
    return None


def test_a_prompt_takes_the_defaults() -> None:
    task = parse_task({"prompt": "hello"}, LlmConfig(persona="I am Steward."))
    assert task.conversation == (Message.user("hello"),)
    assert (task.tier, task.max_turns, task.max_tokens, task.budget_tokens) == ("mid", 8, 1024,
                                                                                32_000)
    assert task.persona == "I am Steward."
    assert task.review is None
    assert task.text == "hello"


def test_messages_with_options_are_read_in_full() -> None:
    task = parse_task({
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "hi"},
                     {"role": "assistant", "content": "hello"},
                     {"role": "user", "content": "what now?"}],
        "tier": "cheap", "system": "Answer in French.", "persona": "A butler.",
        "skills": ["b", "a"], "max_turns": 3, "max_tokens": 99, "budget_tokens": 4000,
        "temperature": 0.2, "review": {"tier": "ultra", "instructions": "check the facts"},
    }, LlmConfig())
    assert [m.role for m in task.conversation] == ["user", "assistant", "user"]
    assert task.system == "Answer in French.\n\nBe brief."
    assert task.text == "what now?"
    assert task.skills == ("b", "a")
    assert (task.tier, task.max_turns, task.max_tokens, task.budget_tokens) == ("cheap", 3, 99,
                                                                                4000)
    assert task.temperature == 0.2
    assert task.review is not None
    assert (task.review.tier, task.review.instructions) == ("ultra", "check the facts")
    assert task.persona == "A butler."


@pytest.mark.parametrize(("payload", "words"), [
    ({}, "is not valid under any of the given schemas"),
    ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "valid under each"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": "a", "max_turns": 0}, "max_turns"),
    ({"prompt": "a", "skils": ["x"]}, "'skils' was unexpected"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
     "must end with a user message"),
    ({"messages": [{"role": "robot", "content": "a"}]}, "robot"),
    ("just text", "is not of type 'object'"),
])
def test_a_bad_payload_fails_as_invalid_input(payload: JSON, words: str) -> None:
    with pytest.raises(Fail) as caught:
        parse_task(payload, LlmConfig())
    assert caught.value.failure_class is FailureClass.INVALID_INPUT
    assert words in caught.value.reason


def test_the_stable_prefix_is_persona_core_memory_then_tools_in_name_order() -> None:
    tools = {name: Tool(name, f"does {name}", {"type": "object"}, _noop)
             for name in ("zeta", "alpha")}
    prefix = stable_prefix("I am Steward.", "- the owner likes tea", tools)
    assert prefix.index("I am Steward.") < prefix.index("<core-memory>")
    assert prefix.index("</core-memory>") < prefix.index("Tools you may call")
    assert prefix.index("- alpha: does alpha") < prefix.index("- zeta: does zeta")
    assert DATA_NOTE in prefix
    assert prefix == stable_prefix("I am Steward.", "- the owner likes tea", dict(tools))
    assert stable_prefix("", "", {}) == ""


def test_the_system_message_carries_the_job_instructions_and_its_schema() -> None:
    task = parse_task({"prompt": "a", "system": "Be brief."}, LlmConfig())
    message = system_message(task, {"type": "object"})
    assert message is not None
    assert message.role == "system"
    assert message.text.startswith("Be brief.")
    assert '{"type": "object"}' in message.text
    assert system_message(parse_task({"prompt": "a"}, LlmConfig()), None) is None


def test_recalled_memories_lead_the_task_message_in_their_own_block() -> None:
    conversation = (Message.user("old"), Message.assistant("reply"), Message.user("now"))
    block = recalled("- owner is in Oslo")
    assert block is not None
    assert block.text.startswith("<recalled-memories>")
    assert block.text.endswith("</recalled-memories>")
    started = opening(conversation, block)
    assert started[:2] == conversation[:2]
    assert started[2].parts == (block, Text("now"))
    assert recalled("  ") is None
    assert opening(conversation, None) == conversation


def test_feedback_tells_the_model_why_and_what_to_do() -> None:
    message = feedback("it misses the date")
    assert message.role == "user"
    assert "it misses the date" in message.text
    assert "corrected" in message.text
