"""Provider ports through the official SDKs against the fake servers: formats and faults."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from engine.gateway.errors import BadResponse, ProviderDown, RateLimited, RequestRejected
from engine.gateway.messages import Message, Request, ToolCall, ToolResult, ToolSpec
from engine.gateway.providers import Endpoints, connect, ollama_v1
from engine.gateway.providers.base import Provider
from engine.gateway.providers.openai import OpenAIProvider
from engine.model import FailureClass
from tests.canary import CANARY_ANTHROPIC_KEY, CANARY_OPENAI_KEY, CANARY_OPENROUTER_KEY
from tests.fakes.llm_servers import (
    Call,
    FakeLLM,
    Fault,
    Reply,
    anthropic_provider,
    bad_arguments,
    drop,
    fake_anthropic,
    fake_openai,
    malformed,
    openai_provider,
    overloaded,
    rate_limited,
    server_error,
    serving,
    shared_tls,
    slow,
    unknown_tool,
)

__all__ = ["fake_anthropic", "fake_openai"]

READ = ToolSpec("read", "read a file", {"type": "object",
                                        "properties": {"path": {"type": "string"}}})
ASK = Request("mid", (Message.user("hello"),), stable_prefix="You are Steward.", tools=(READ,))


@pytest.fixture(params=["openai", "anthropic"])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[FakeLLM, Provider]]:
    """Each test runs against both providers, each with its own fake server."""
    async with serving() as server:
        provider: Provider = (openai_provider(server) if request.param == "openai"
                              else anthropic_provider(server))
        yield server, provider
        await provider.close()


async def test_a_plain_answer(pair: tuple[FakeLLM, Provider]) -> None:
    server, provider = pair
    reply = await provider.complete("m1", ASK, 5.0)
    assert reply.message.text == "echo: hello"
    assert reply.stop_reason == "end_turn"
    assert reply.usage.input_tokens > 0
    assert reply.usage.output_tokens > 0
    assert server.last.body["model"] == "m1"


async def test_keys_travel_in_each_providers_header(fake_openai: FakeLLM,
                                                    fake_anthropic: FakeLLM) -> None:
    o, a = openai_provider(fake_openai), anthropic_provider(fake_anthropic)
    await o.complete("m", ASK, 5.0)
    await a.complete("m", ASK, 5.0)
    await o.close()
    await a.close()
    assert fake_openai.last.headers["authorization"] == f"Bearer {CANARY_OPENAI_KEY}"
    sent = fake_anthropic.last.headers
    assert CANARY_ANTHROPIC_KEY in (sent.get("x-api-key"), sent.get("authorization", "")[7:])
    assert fake_openai.last.body["max_completion_tokens"] == 1024
    assert fake_anthropic.last.body["max_tokens"] == 1024


async def test_compatible_servers_get_max_tokens(fake_openai: FakeLLM) -> None:
    ollama = OpenAIProvider.connect("ollama", "ollama", fake_openai.openai_url,
                                    legacy_max_tokens=True, tls=shared_tls())
    await ollama.complete("llama", ASK, 5.0)
    await ollama.close()
    assert fake_openai.last.body["max_tokens"] == 1024
    assert "max_completion_tokens" not in fake_openai.last.body


async def test_anthropic_gets_cache_markers_on_the_stable_parts(fake_anthropic: FakeLLM) -> None:
    provider = anthropic_provider(fake_anthropic)
    await provider.complete("m", ASK, 5.0)
    await provider.close()
    body = fake_anthropic.last.body
    assert body["system"] == [{"type": "text", "text": "You are Steward.",
                               "cache_control": {"type": "ephemeral"}}]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}


async def test_a_tool_loop_keeps_calls_and_results(pair: tuple[FakeLLM, Provider]) -> None:
    server, provider = pair
    server.push(Reply("Reading.", calls=(Call("read", {"path": "a.txt"}),)))
    first = await provider.complete("m", ASK, 5.0)
    (call,) = first.message.tool_calls
    assert (call.name, call.arguments, first.stop_reason) == ("read", {"path": "a.txt"},
                                                             "tool_use")
    follow = Request("mid", (*ASK.messages, first.message,
                             Message.tool_results(ToolResult(call.id, "contents"))),
                     tools=(READ,))
    second = await provider.complete("m", follow, 5.0)
    assert second.message.text == "echo: hello"
    sent = str(server.last.body["messages"])
    assert call.id in sent
    assert "contents" in sent


async def test_unknown_tools_and_bad_arguments_reach_the_caller(
        pair: tuple[FakeLLM, Provider]) -> None:
    server, provider = pair
    server.push(unknown_tool(), bad_arguments("read"))
    (unknown,) = (await provider.complete("m", ASK, 5.0)).message.tool_calls
    assert unknown.name == "no_such_tool"
    (bad,) = (await provider.complete("m", ASK, 5.0)).message.tool_calls
    assert isinstance(bad, ToolCall)
    assert bad.name == "read"
    if isinstance(provider, OpenAIProvider):
        assert (bad.arguments, bad.raw_arguments) == ({}, '{"path": "unterminated')
    else:  # Anthropic always sends an object: the wrong keys are the caller's to refuse
        assert "path" not in bad.arguments


@pytest.mark.parametrize(("fault", "retry_after_s"), [
    (rate_limited(), None),
    (rate_limited(retry_after="7"), 7.0),
    (rate_limited(retry_after_ms="1500"), 1.5),
    (rate_limited(retry_after="900"), 900.0),
])
async def test_429_is_rate_limited_with_its_reset_and_never_retried_by_the_sdk(
        pair: tuple[FakeLLM, Provider], fault: Fault, retry_after_s: float | None) -> None:
    server, provider = pair
    server.push(fault)
    began = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        await provider.complete("m", ASK, 5.0)
    assert time.monotonic() - began < 2.0, "the SDK must not sleep for retry-after"
    assert len(server.requests) == 1, "the SDK must not retry"
    err = caught.value
    assert (err.retry_after_s, err.failure, err.transient, err.status) == (
        retry_after_s, FailureClass.RATE_LIMIT, True, 429)


@pytest.mark.parametrize("status", [500, 502, 503, 529])
async def test_server_errors_are_provider_down(pair: tuple[FakeLLM, Provider],
                                               status: int) -> None:
    server, provider = pair
    server.push(overloaded() if status == 529 else server_error(status))
    with pytest.raises(ProviderDown) as caught:
        await provider.complete("m", ASK, 5.0)
    assert (caught.value.failure, caught.value.transient) == (FailureClass.SERVER_ERROR, True)
    assert f"HTTP {status}" in str(caught.value)
    assert len(server.requests) == 1


async def test_a_slow_answer_times_out(pair: tuple[FakeLLM, Provider]) -> None:
    server, provider = pair
    server.push(slow(10.0))
    began = time.monotonic()
    with pytest.raises(ProviderDown) as caught:
        await provider.complete("m", ASK, 0.3)
    assert time.monotonic() - began < 3.0
    assert caught.value.failure is FailureClass.TIMEOUT


async def test_a_dropped_connection_is_provider_down(pair: tuple[FakeLLM, Provider]) -> None:
    server, provider = pair
    server.push(drop())
    with pytest.raises(ProviderDown, match="connection failed") as caught:
        await provider.complete("m", ASK, 5.0)
    assert caught.value.failure is FailureClass.SERVER_ERROR


async def test_connection_refused_is_provider_down() -> None:
    async with serving() as server:
        gone = server
    for provider in (openai_provider(gone), anthropic_provider(gone)):
        with pytest.raises(ProviderDown, match="connection failed"):
            await provider.complete("m", ASK, 5.0)
        await provider.close()


async def test_malformed_json_is_a_bad_response(pair: tuple[FakeLLM, Provider]) -> None:
    server, provider = pair
    server.push(malformed())
    with pytest.raises(BadResponse, match="not JSON") as caught:
        await provider.complete("m", ASK, 5.0)
    assert caught.value.transient


@pytest.mark.parametrize(("status", "failure"), [(400, FailureClass.INVALID_INPUT),
                                                 (401, FailureClass.OTHER),
                                                 (404, FailureClass.OTHER)])
async def test_refusals_are_not_transient(pair: tuple[FakeLLM, Provider], status: int,
                                          failure: FailureClass) -> None:
    server, provider = pair
    server.push(server_error(status))
    with pytest.raises(RequestRejected) as caught:
        await provider.complete("m", ASK, 5.0)
    assert (caught.value.failure, caught.value.transient, caught.value.status) == (
        failure, False, status)
    assert "sk-" not in str(caught.value)


async def test_connect_makes_a_provider_per_configured_endpoint(fake_openai: FakeLLM,
                                                                fake_anthropic: FakeLLM) -> None:
    none = connect(Endpoints())
    assert none == {}
    base = fake_openai.anthropic_url  # the bare host: Ollama's API lives under /v1
    found = connect(Endpoints(
        openai_key=CANARY_OPENAI_KEY, openai_base_url=fake_openai.openai_url,
        anthropic_key=CANARY_ANTHROPIC_KEY, anthropic_base_url=fake_anthropic.anthropic_url,
        openrouter_key=CANARY_OPENROUTER_KEY, openrouter_base_url=fake_openai.openai_url,
        ollama_base_url=base + "/"))
    assert sorted(found) == ["anthropic", "ollama", "openai", "openrouter"]
    for name, provider in found.items():
        assert provider.name == name
        reply = await provider.complete("m", ASK, 5.0)
        assert reply.message.text == "echo: hello"
        await provider.close()
    limits = [("max_tokens" in r.body, "max_completion_tokens" in r.body)
              for r in fake_openai.requests]
    # OPENAI_BASE_URL pointing elsewhere than OpenAI means a compatible server: max_tokens.
    assert limits == [(True, False)] * 3
    assert fake_openai.requests[-1].headers["authorization"] == "Bearer ollama"


def test_ollama_url_gets_v1_once() -> None:
    assert ollama_v1("http://127.0.0.1:11434") == "http://127.0.0.1:11434/v1"
    assert ollama_v1("http://127.0.0.1:11434/v1/") == "http://127.0.0.1:11434/v1"
