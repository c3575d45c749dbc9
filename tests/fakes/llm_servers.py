"""Fake OpenAI and Anthropic servers on 127.0.0.1, speaking the real wire formats.

One ``FakeLLM`` serves both ``POST /v1/chat/completions`` (OpenAI) and ``POST /v1/messages``
(Anthropic); a test starts one per provider it fakes. Each request takes the next action from
``script`` (a reply or a fault) or, when the script is empty, may hit a random fault (``chaos``),
else gets the default answer: ``reply_text`` if set, else ``echo: <last user text>``. Every
request is recorded. Usage is reported like the real APIs, prompt caching included: OpenAI
caches any repeated prefix of 1024 tokens or more (in steps of 128); Anthropic caches the
prefix up to each ``cache_control`` marker and reads the longest one seen before.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import random
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from aiohttp import web

from engine.gateway.config import COMPLETION_TIERS, Candidate, RoutingTable
from engine.gateway.costs import FREE, Price
from engine.gateway.providers.anthropic import AnthropicProvider
from engine.gateway.providers.openai import OpenAIProvider
from tests import canary
from tests.canary import CANARY_ANTHROPIC_KEY, CANARY_OPENAI_KEY
from tests.fakes.llm_cache import PromptCache, tokens


@dataclass(frozen=True)
class Call:
    """A tool call the fake model makes; ``arguments`` as text is sent as is (maybe invalid)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """A scripted answer: text, tool calls, or both."""

    text: str = ""
    calls: tuple[Call, ...] = ()
    output_tokens: int | None = None


FaultKind = Literal["status", "slow", "drop", "malformed", "empty"]


@dataclass(frozen=True)
class Fault:
    """A scripted failure; build one with the helpers below."""

    kind: FaultKind
    status: int = 500
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0


def rate_limited(retry_after: str | None = None, retry_after_ms: str | None = None) -> Fault:
    headers = [("retry-after", retry_after), ("retry-after-ms", retry_after_ms)]
    return Fault("status", 429, tuple((k, v) for k, v in headers if v is not None))


def server_error(status: int = 500) -> Fault:
    return Fault("status", status)


def overloaded() -> Fault:
    """Anthropic's 529."""
    return Fault("status", 529)


def slow(delay_s: float) -> Fault:
    """Answer normally, but only after ``delay_s`` (the client should time out first)."""
    return Fault("slow", delay_s=delay_s)


def drop() -> Fault:
    """Close the connection without an answer."""
    return Fault("drop")


def malformed() -> Fault:
    return Fault("malformed")


def empty() -> Fault:
    """A well-formed completion with no text and no tool call."""
    return Fault("empty")


def unknown_tool() -> Reply:
    return Reply(calls=(Call("no_such_tool", {"x": 1}),))


def bad_arguments(name: str) -> Reply:
    """A call to ``name`` whose arguments are not valid JSON (for Anthropic: not an object)."""
    return Reply(calls=(Call(name, '{"path": "unterminated'),))


Action = Reply | Fault

CHAOS_FAULTS: tuple[Fault, ...] = (
    rate_limited(), rate_limited(retry_after="2"), rate_limited(retry_after_ms="1500"),
    server_error(500), server_error(502), server_error(503), overloaded(), drop(), malformed(),
    empty())


@dataclass
class Received:
    """One request the server got."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


@dataclass
class Chaos:
    rate: float
    faults: tuple[Fault, ...]
    rng: random.Random


@dataclass
class FakeLLM:
    """The server's state; ``start`` binds it to an ephemeral port on 127.0.0.1."""

    reply_text: str | None = None
    mind: Callable[[dict[str, Any]], Reply] | None = None
    """When set (and the script is empty), it makes every answer from the request's body: a
    scripted model, e.g. one that obeys whatever instructions it reads."""
    script: deque[Action] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    faults_served: list[Fault] = field(default_factory=list)
    chaos_mode: Chaos | None = None
    port: int = 0
    cache: PromptCache = field(default_factory=PromptCache)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> FakeLLM:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what the test controls ----------------------------------------------------------------

    def push(self, *actions: Action) -> None:
        """Answer the next requests with these, in order."""
        self.script.extend(actions)

    def chaos(self, rate: float, faults: Iterable[Fault] = CHAOS_FAULTS, seed: int = 0) -> None:
        """When the script is empty, fail a share ``rate`` of requests with a random fault."""
        self.chaos_mode = Chaos(rate, tuple(faults), random.Random(seed))

    async def until_requests(self, n: int, timeout_s: float = 5.0) -> None:
        """Wait until the server has received ``n`` requests."""
        async with asyncio.timeout(timeout_s):
            while len(self.requests) < n:
                self._arrived.clear()
                await self._arrived.wait()

    @property
    def last(self) -> Received:
        return self.requests[-1]

    # -- serving -------------------------------------------------------------------------------

    def _next(self) -> Action | None:
        if self.script:
            return self.script.popleft()
        chaos = self.chaos_mode
        if chaos is not None and chaos.rng.random() < chaos.rate:
            return chaos.rng.choice(chaos.faults)
        return None

    async def _receive(self, request: web.Request) -> tuple[dict[str, Any], Action | None]:
        body = await request.json()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Received(request.path, headers, body, time.time()))
        canary.record_request(f"fake model {request.path}", headers, body)
        self._arrived.set()
        action = self._next()
        if isinstance(action, Fault):
            self.faults_served.append(action)
        return body, action

    async def _fault(self, request: web.Request, fault: Fault, dialect: str
                     ) -> web.StreamResponse | None:
        """The response a fault makes, or None when the normal answer should follow."""
        if fault.kind == "status":
            return web.json_response(_error_body(fault.status, dialect), status=fault.status,
                                     headers=dict(fault.headers))
        if fault.kind == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if fault.kind == "malformed":
            return web.Response(text='{"id": "x", "choices": [', content_type="application/json")
        if fault.kind == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.delay_s)
        return None

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "openai")

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "anthropic")

    async def _answer(self, request: web.Request, dialect: str) -> web.StreamResponse:
        body, action = await self._receive(request)
        if isinstance(action, Fault):
            made = await self._fault(request, action, dialect)
            if made is not None:
                return made
        reply = Reply() if isinstance(action, Fault) and action.kind == "empty" else (
            action if isinstance(action, Reply) else self._default(body))
        if dialect == "openai":
            return web.json_response(self._openai_answer(body, reply))
        return web.json_response(self._anthropic_answer(body, reply))

    def _default(self, body: dict[str, Any]) -> Reply:
        if self.mind is not None:
            return self.mind(body)
        if self.reply_text is not None:
            return Reply(self.reply_text)
        return Reply(f"echo: {_last_user_text(body)}")

    # -- answers -------------------------------------------------------------------------------

    def _openai_answer(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        n = next(self._ids)
        calls = [{"id": f"call_{n}_{i}", "type": "function",
                  "function": {"name": c.name, "arguments": c.arguments
                               if isinstance(c.arguments, str) else json.dumps(c.arguments)}}
                 for i, c in enumerate(reply.calls)]
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if calls:
            message["tool_calls"] = calls
        prompt, cached = self.cache.openai_usage(body)
        out = reply.output_tokens if reply.output_tokens is not None else tokens(
            reply.text + json.dumps(calls))
        return {
            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": out,
                      "total_tokens": prompt + out,
                      "prompt_tokens_details": {"cached_tokens": cached}}}

    def _anthropic_answer(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        n = next(self._ids)
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text \
            else []
        for i, c in enumerate(reply.calls):
            arguments = {"_": c.arguments} if isinstance(c.arguments, str) else c.arguments
            content.append({"type": "tool_use", "id": f"toolu_{n}_{i}", "name": c.name,
                            "input": arguments})
        total, read, write = self.cache.anthropic_usage(body)
        out = reply.output_tokens if reply.output_tokens is not None else tokens(
            json.dumps(content))
        return {
            "id": f"msg_{n}", "type": "message", "role": "assistant",
            "model": body.get("model", ""), "content": content,
            "stop_reason": "tool_use" if reply.calls else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": total - read - write, "output_tokens": out,
                      "cache_read_input_tokens": read, "cache_creation_input_tokens": write}}

def _error_body(status: int, dialect: str) -> dict[str, Any]:
    kinds = {429: "rate_limit_error", 529: "overloaded_error", 400: "invalid_request_error"}
    kind = kinds.get(status, "api_error")
    message = f"fake {kind} ({status})"
    if dialect == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "code": None}}


def _last_user_text(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages", [])):
        if m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, str):
            return content
        texts = [b.get("text", "") for b in content if b.get("type") == "text"]
        if texts:
            return " ".join(texts)
    return ""


@contextlib.asynccontextmanager
async def serving(reply_text: str | None = None) -> AsyncIterator[FakeLLM]:
    """A started fake server, stopped on exit."""
    server = await FakeLLM(reply_text=reply_text).start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeLLM]:
    async with serving() as server:
        yield server


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[FakeLLM]:
    async with serving() as server:
        yield server


# -- wiring the gateway to the fakes -------------------------------------------------------------

TEST_PRICE = Price(input=1.0, output=2.0, cached=0.1, cache_write=1.25)


@functools.cache
def shared_tls() -> ssl.SSLContext:
    """One TLS context for every test client: making one costs tens of milliseconds."""
    return ssl.create_default_context()


def openai_provider(server: FakeLLM, name: str = "openai", timeout_s: float = 5.0
                    ) -> OpenAIProvider:
    """The real OpenAI provider (official SDK) pointed at ``server``."""
    return OpenAIProvider.connect(name, CANARY_OPENAI_KEY, server.openai_url, timeout_s=timeout_s,
                                  tls=shared_tls())


def anthropic_provider(server: FakeLLM, name: str = "anthropic", timeout_s: float = 5.0
                       ) -> AnthropicProvider:
    """The real Anthropic provider (official SDK) pointed at ``server``."""
    return AnthropicProvider.connect(name, CANARY_ANTHROPIC_KEY, server.anthropic_url,
                                     timeout_s=timeout_s, tls=shared_tls())


def table(tiers: dict[str, list[str]], price: Price = TEST_PRICE, timeout_s: float = 5.0,
          free: Iterable[str] = ()) -> RoutingTable:
    """A routing table from ``{"mid": ["anthropic/m1", "openai/m2"]}``; every completion tier
    not given gets the first tier's candidates; keys in ``free`` cost nothing."""
    free_keys = set(free)
    built: dict[str, tuple[Candidate, ...]] = {}
    for tier, keys in tiers.items():
        built[tier] = tuple(
            Candidate(k.split("/", 1)[0], k.split("/", 1)[1],
                      FREE if k in free_keys else price, timeout_s)
            for k in keys)
    first = next(iter(built.values()))
    for tier in COMPLETION_TIERS:
        built.setdefault(tier, first)
    return RoutingTable(built, "test")
