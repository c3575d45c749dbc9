"""Chat history, pure parts: what a chat job holds, fitting exchanges to a token budget."""

from __future__ import annotations

from typing import Any

import pytest

from bot.chat_history import MESSAGE_CHARS, Exchange, exchange_of, fit, messages


def words(text: str) -> int:
    return len(text.split())


@pytest.mark.parametrize(("payload", "result", "expected"), [
    ({"prompt": "hi"}, {"text": "hello"}, Exchange("hi", "hello")),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                   {"role": "user", "content": "c"}], "skills": ["recall"]},
     {"text": " d \n"}, Exchange("c", "d")),
    ({"prompt": "hi"}, {"text": "   "}, None),
    ({"prompt": "hi"}, {"stdout": "x"}, None),
    ({"prompt": "hi"}, None, None),
    ({"messages": []}, {"text": "x"}, None),
    ({"messages": ["bad"]}, {"text": "x"}, None),
    ("not a payload", {"text": "x"}, None),
])
def test_the_exchange_a_chat_job_holds(payload: Any, result: Any,
                                       expected: Exchange | None) -> None:
    assert exchange_of(payload, result) == expected


def test_a_long_message_is_cut() -> None:
    found = exchange_of({"prompt": "q"}, {"text": "x" * (MESSAGE_CHARS + 50)})
    assert found is not None
    assert found.answered == "x" * MESSAGE_CHARS + " […]"


def test_fit_keeps_the_latest_that_fit_oldest_first_without_holes() -> None:
    newest_first = [Exchange("three four", "five"), Exchange("one", "two"),
                    Exchange("a b c d e f g h", "i"), Exchange("old", "older")]
    assert fit(newest_first, 5, words) == [Exchange("one", "two"),
                                           Exchange("three four", "five")]
    assert fit(newest_first, 2, words) == []
    assert len(fit(newest_first, 100, words)) == 4


def test_messages_alternate_and_end_with_the_new_text() -> None:
    history = [Exchange("hi", "hello"), Exchange("and you?", "fine")]
    assert messages(history, "what now?") == [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and you?"}, {"role": "assistant", "content": "fine"},
        {"role": "user", "content": "what now?"}]
    assert messages([], "x") == [{"role": "user", "content": "x"}]
