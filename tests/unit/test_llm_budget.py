"""Fitting a conversation into a token budget: what goes first, what always stays."""

from __future__ import annotations

from engine.gateway.messages import Message, Text, ToolCall, ToolResult
from engine.workers.llm_budget import ELIDED_MARK, PART_OVERHEAD_TOKENS, fit, message_tokens
from engine.workers.llm_tokens import cl100k_counter


def words(text: str) -> int:
    """A token counter that is easy to reason about: one token a word."""
    return len(text.split())


def turn(n: int, output_words: int) -> tuple[Message, Message]:
    call = Message("assistant", (ToolCall(f"c{n}", "fetch", {}),))
    result = Message.tool_results(ToolResult(f"c{n}", " ".join(["w"] * output_words)))
    return call, result


def conversation(*sizes: int) -> tuple[Message, ...]:
    messages: list[Message] = [Message.user("summarise the pages")]
    for n, size in enumerate(sizes):
        messages += turn(n, size)
    return tuple(messages)


def size(messages: tuple[Message, ...]) -> int:
    return sum(message_tokens(m, words) for m in messages)


def test_a_conversation_within_budget_is_left_alone() -> None:
    messages = conversation(10, 10)
    fitted = fit(messages, 50, 50 + size(messages), words)
    assert fitted is not None
    assert fitted.messages == messages
    assert (fitted.elided, fitted.dropped, fitted.anchor) == (0, 0, 0)


def test_the_oldest_tool_output_is_elided_first() -> None:
    messages = conversation(300, 300, 300)
    budget = size(messages) - 250
    fitted = fit(messages, 0, budget, words)
    assert fitted is not None
    assert fitted.tokens <= budget
    assert fitted.elided == 1
    assert fitted.dropped == 0
    first, second = fitted.messages[2], fitted.messages[4]
    assert isinstance(first.parts[0], ToolResult)
    assert first.parts[0].content.startswith(ELIDED_MARK)
    assert second == messages[4]
    assert fitted.messages[-2:] == messages[-2:]
    assert fitted.messages[0] == messages[0]


def test_the_latest_turn_and_the_task_are_never_touched() -> None:
    messages = conversation(300, 300, 300)
    fitted = fit(messages, 0, 360, words)
    assert fitted is not None
    assert fitted.messages[0] == messages[0]
    assert fitted.messages[-2:] == messages[-2:]


def test_old_turns_are_dropped_whole_when_eliding_is_not_enough() -> None:
    messages = conversation(5, 5, 5, 5)
    fixed = 0
    budget = size((messages[0], *messages[-2:])) + 1
    fitted = fit(messages, fixed, budget, words)
    assert fitted is not None
    assert fitted.dropped == 6
    assert fitted.messages == (messages[0], *messages[-2:])
    calls = {p.id for m in fitted.messages for p in m.parts if isinstance(p, ToolCall)}
    results = {p.call_id for m in fitted.messages for p in m.parts if isinstance(p, ToolResult)}
    assert calls == results


def test_a_conversation_that_cannot_fit_gives_none() -> None:
    messages = conversation(10, 400)
    assert fit(messages, 0, 100, words) is None
    assert fit((Message.user("x " * 500),), 0, 100, words) is None
    assert fit((Message.user("hi"),), 1_000, 100, words) is None


def test_history_before_the_task_goes_first_and_the_anchor_follows() -> None:
    history = (Message.user("old question " * 50), Message.assistant("old answer " * 50),
               Message.user("later question " * 50), Message.assistant("later answer"))
    task = Message.user("the question now")
    messages = (*history, task)
    budget = message_tokens(task, words) + message_tokens(history[-1], words) + 1
    fitted = fit(messages, 0, budget, words, anchor=4)
    assert fitted is not None
    assert fitted.messages == (history[-1], task)
    assert fitted.anchor == 1
    assert fitted.dropped == 3


def test_an_image_counts_and_a_real_tokenizer_works() -> None:
    count = cl100k_counter()
    message = Message("user", (Text("hello world"),))
    assert message_tokens(message, count) == 2 + 2 * PART_OVERHEAD_TOKENS
