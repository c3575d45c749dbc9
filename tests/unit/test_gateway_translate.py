"""Provider ports translate both ways without losing tool calls, tool results or images."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic.types import Message as AnthropicMessage
from openai.types.chat import ChatCompletion

from engine.gateway.errors import BadResponse
from engine.gateway.messages import (
    Image,
    Message,
    Request,
    Text,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)
from engine.gateway.providers import anthropic as anth
from engine.gateway.providers import openai as oai

READ = ToolSpec("read", "read a file", {"type": "object",
                                        "properties": {"path": {"type": "string"}}})
GREP = ToolSpec("grep", "search files", {"type": "object"})
CALL = ToolCall("call_1", "read", {"path": "/tmp/a.txt"})
PICTURE = Image("image/png", "iVBORw0KGgo=")

CONVERSATION = Request(
    "mid",
    (Message.system("Answer briefly."),
     Message("user", (Text("What is in a.txt and this picture?"), PICTURE)),
     Message("assistant", (Text("Let me look."), CALL)),
     Message.tool_results(ToolResult("call_1", "hello", is_error=False)),
     Message.user("And now?")),
    stable_prefix="You are Steward.",
    tools=(READ, GREP))


def test_openai_messages() -> None:
    assert oai.encode_messages(CONVERSATION) == [
        {"role": "system", "content": "You are Steward."},
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is in a.txt and this picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "read", "arguments": '{"path": "/tmp/a.txt"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "hello"},
        {"role": "user", "content": "And now?"},
    ]


def test_openai_tools_and_error_results() -> None:
    assert oai.encode_tools(CONVERSATION)[0] == {
        "type": "function", "function": {"name": "read", "description": "read a file",
                                         "parameters": READ.parameters}}
    failed = Request("mid", (Message.tool_results(ToolResult("c", "no such file", True)),))
    assert oai.encode_messages(failed)[0]["content"] == "Error: no such file"


def test_openai_tool_results_inside_a_user_message_come_first() -> None:
    mixed = Request("mid", (Message("user", (ToolResult("c", "42"), Text("thanks"))),))
    roles = [m["role"] for m in oai.encode_messages(mixed)]
    assert roles == ["tool", "user"]


def test_anthropic_system_is_cached_prefix_then_system_messages() -> None:
    assert anth.encode_system(CONVERSATION) == [
        {"type": "text", "text": "You are Steward.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Answer briefly."}]


def test_anthropic_marks_the_last_tool_only() -> None:
    tools = anth.encode_tools(CONVERSATION)
    assert tools[0] == {"name": "read", "description": "read a file",
                        "input_schema": READ.parameters}
    assert tools[1]["cache_control"] == {"type": "ephemeral"}


def test_anthropic_messages_alternate_and_mark_the_conversation_tail() -> None:
    assert anth.encode_messages(CONVERSATION) == [
        {"role": "user", "content": [
            {"type": "text", "text": "What is in a.txt and this picture?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBORw0KGgo="}}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "call_1", "name": "read",
             "input": {"path": "/tmp/a.txt"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "hello",
             "is_error": False},
            {"type": "text", "text": "And now?", "cache_control": {"type": "ephemeral"}}]},
    ]


def test_anthropic_one_turn_gets_no_conversation_marker() -> None:
    one = Request("mid", (Message.user("hi"),))
    assert anth.encode_messages(one) == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert anth.encode_system(one) == []


def test_unparsable_arguments_go_back_as_they_came() -> None:
    bad = ToolCall("c", "read", {}, raw_arguments='{"path": ')
    request = Request("mid", (Message("assistant", (bad,)), Message.user("?")))
    assert oai.encode_messages(request)[0]["tool_calls"][0]["function"]["arguments"] == \
        '{"path": '
    assert anth.encode_messages(request)[0]["content"][0]["input"] == {
        "_raw_arguments": '{"path": '}


def openai_reply(message: dict[str, Any], finish: str = "stop",
                 usage: dict[str, Any] | None = None) -> ChatCompletion:
    return ChatCompletion.model_validate({
        "id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        "usage": usage or {"prompt_tokens": 3000, "completion_tokens": 20, "total_tokens": 3020,
                           "prompt_tokens_details": {"cached_tokens": 2048}}})


def test_openai_reply_with_tool_calls() -> None:
    reply = oai.decode(openai_reply({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "read", "arguments": '{"path": "x"}'}},
        {"id": "c2", "type": "function", "function": {"name": "grep", "arguments": "[1, 2]"}},
        {"id": "c3", "type": "function", "function": {"name": "grep", "arguments": "{bad"}},
    ]}, finish="tool_calls"))
    assert reply.message.tool_calls == (
        ToolCall("c1", "read", {"path": "x"}),
        ToolCall("c2", "grep", {}, raw_arguments="[1, 2]"),
        ToolCall("c3", "grep", {}, raw_arguments="{bad"))
    assert reply.stop_reason == "tool_use"
    assert reply.usage == Usage(3000, 20, 2048)


@pytest.mark.parametrize(("finish", "stop"), [("stop", "end_turn"), ("length", "max_tokens"),
                                              ("content_filter", "refusal"),
                                              ("function_call", "tool_use")])
def test_openai_stop_reasons(finish: str, stop: str) -> None:
    reply = oai.decode(openai_reply({"role": "assistant", "content": "hi"}, finish=finish))
    assert (reply.message.text, reply.stop_reason) == ("hi", stop)


def test_openai_reply_of_the_wrong_shape_is_a_bad_response() -> None:
    raw = ChatCompletion.model_construct(id="x", choices=[], usage=None)
    with pytest.raises(BadResponse, match="unexpected shape"):
        oai.decode(raw)


def anthropic_reply(content: list[dict[str, Any]], stop: str = "end_turn") -> AnthropicMessage:
    return AnthropicMessage.model_validate({
        "id": "m", "type": "message", "role": "assistant", "model": "c", "content": content,
        "stop_reason": stop, "stop_sequence": None,
        "usage": {"input_tokens": 50, "output_tokens": 7, "cache_read_input_tokens": 2000,
                  "cache_creation_input_tokens": 300}})


def test_anthropic_reply_with_text_and_tool_use() -> None:
    reply = anth.decode(anthropic_reply([
        {"type": "text", "text": "Reading."},
        {"type": "tool_use", "id": "t1", "name": "read", "input": {"path": "x"}}], "tool_use"))
    assert reply.message.parts == (Text("Reading."), ToolCall("t1", "read", {"path": "x"}))
    assert reply.stop_reason == "tool_use"
    assert reply.usage == Usage(2350, 7, 2000, 300)


def test_a_tool_call_survives_the_round_trip_between_formats() -> None:
    """An OpenAI tool call, sent on to Anthropic as history, arrives as the same tool_use."""
    call = oai.decode(openai_reply({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "read", "arguments": '{"path": "x", "n": [1, 2]}'}}]},
        finish="tool_calls")).message
    history = Request("mid", (Message.user("go"), call,
                              Message.tool_results(ToolResult("c1", "ok"))))
    blocks = anth.encode_messages(history)
    assert blocks[1]["content"][0] == {"type": "tool_use", "id": "c1", "name": "read",
                                       "input": {"path": "x", "n": [1, 2]}}
    assert blocks[2]["content"][0]["tool_use_id"] == "c1"
    back = oai.encode_messages(history)
    assert back[1]["tool_calls"][0]["function"]["arguments"] == '{"path": "x", "n": [1, 2]}'
