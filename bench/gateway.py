"""Gateway benchmark: prompt-cache savings on a scripted conversation, and per-call overhead."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Run as ``python bench/gateway.py``: drop this folder from sys.path (its names would shadow
# packages) and put the repository root there, for the fake servers in tests/fakes.
ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]
sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402

from engine.gateway.config import Candidate, RoutingTable  # noqa: E402
from engine.gateway.costs import Price  # noqa: E402
from engine.gateway.messages import (  # noqa: E402
    Completion,
    Message,
    Request,
    ToolResult,
    ToolSpec,
    Usage,
)
from engine.gateway.providers import anthropic as anthropic_port  # noqa: E402
from engine.gateway.providers.base import Provider, Reply  # noqa: E402
from engine.gateway.repo import GatewayRepo  # noqa: E402
from engine.gateway.router import Gateway, GatewayConfig  # noqa: E402
from engine.store.sqlite import SqliteStore  # noqa: E402
from tests.fakes.llm_servers import (  # noqa: E402
    Call,
    FakeLLM,
    anthropic_provider,
    openai_provider,
    serving,
)
from tests.fakes.llm_servers import Reply as Said  # noqa: E402

TURNS = 10
OVERHEAD_SAMPLES = 400
OVERHEAD_WARMUP = 40
CACHED_RATE = 0.1
"""Cached input is billed at a tenth of the input price (Anthropic and OpenAI alike)."""
CACHE_WRITE_RATE = 1.25
"""Anthropic bills writing to the cache at 1.25 times the input price."""

PERSONA = ("You are Steward, a personal assistant for one person. You are careful, brief and "
           "honest; you say what you did and what is left. ")
CORE_MEMORY = "\n".join(
    f"- fact {i}: the owner prefers concise answers about topic {i}, with sources, "
    f"and keeps project {i % 7} notes in ~/notes/project-{i % 7}.md" for i in range(60))
TOOLS = tuple(
    ToolSpec(name, f"{name.replace('_', ' ')}: {text}", {
        "type": "object",
        "properties": {"path": {"type": "string", "description": "a path under the workspace"},
                       "query": {"type": "string", "description": "what to look for"},
                       "limit": {"type": "integer", "description": "at most this many"}},
        "required": ["path"]})
    for name, text in [
        ("read_file", "return the text of a file, at most 200 lines from an offset"),
        ("write_file", "replace a file's text; the old text is kept in history"),
        ("search_files", "find lines matching a regular expression in files under a path"),
        ("web_search", "search the web and return titles, addresses and snippets"),
        ("remember", "store a fact in archival memory with a category and importance"),
        ("recall", "search archival memory for facts relevant to a query")])


@dataclass(frozen=True)
class Row:
    call: int
    usage: Usage

    @property
    def billed(self) -> float:
        """Billed-equivalent input tokens: uncached + 0.1 x cached + 1.25 x written."""
        u = self.usage
        return u.uncached_tokens + CACHED_RATE * u.cached_tokens + \
            CACHE_WRITE_RATE * u.cache_write_tokens

    @property
    def naive(self) -> int:
        """The same call resent with nothing cached: every input token at full price."""
        return self.usage.input_tokens


class TimedProvider:
    """A provider that notes how long each call spends inside the real one, so the gateway's
    own time (waterfall, reservation, rows) is the rest."""

    def __init__(self, inner: Provider) -> None:
        self.name = inner.name
        self._inner = inner
        self.inside_ms: list[float] = []

    async def complete(self, model: str, request: Request, timeout_s: float) -> Reply:
        began = time.perf_counter()
        try:
            return await self._inner.complete(model, request, timeout_s)
        finally:
            self.inside_ms.append((time.perf_counter() - began) * 1000)

    async def close(self) -> None:
        await self._inner.close()


def stable_prefix() -> str:
    return PERSONA * 8 + "\n\nWhat you know about the owner:\n" + CORE_MEMORY


def gateway_for(store: SqliteStore, provider: Provider, key: str) -> Gateway:
    name, model = key.split("/", 1)
    price = Price(input=3.0, output=15.0, cached=0.3, cache_write=3.75)
    candidates = (Candidate(name, model, price, 30.0),)
    table = RoutingTable({t: candidates for t in ("ultra", "mid", "cheap", "reasoning")})
    return Gateway({name: provider}, table, GatewayRepo(store), GatewayConfig(1000.0))


async def conversation(gateway: Gateway, server: FakeLLM) -> list[Row]:
    """Ten owner turns; every other turn the model reads a file before it answers."""
    messages: list[Message] = []
    rows: list[Row] = []
    for turn in range(TURNS):
        messages.append(Message.user(
            f"Turn {turn}: please look at project {turn % 7} and tell me what changed since "
            "yesterday, briefly, with the files you looked at."))
        if turn % 2:
            server.push(Said(calls=(Call("read_file", {"path": f"notes/p{turn}.md"}),)))
        server.push(Said(f"Project {turn % 7}: three notes changed; the plan moved a day. " * 2))
        done = await ask(gateway, messages, rows)
        if done.message.tool_calls:
            messages += [done.message, Message.tool_results(*(
                ToolResult(c.id, f"line {i}: a note about the plan\n" * 3)
                for i, c in enumerate(done.message.tool_calls)))]
            done = await ask(gateway, messages, rows)
        messages.append(done.message)
    return rows


async def ask(gateway: Gateway, messages: list[Message], rows: list[Row]) -> Completion:
    done = await gateway.complete(Request("mid", tuple(messages), stable_prefix=stable_prefix(),
                                          tools=TOOLS, max_tokens=512))
    rows.append(Row(len(rows) + 1, done.usage))
    return done


async def overhead(store: SqliteStore, server: FakeLLM) -> tuple[float, float, float]:
    """p50 of a gateway call, of the raw SDK call it makes (alternated, same server), and of
    the gateway's own time within its calls."""
    provider = TimedProvider(anthropic_provider(server))
    gateway = gateway_for(store, provider, "anthropic/bench-overhead")
    raw = anthropic.AsyncAnthropic(api_key="sk-ant-bench", base_url=server.anthropic_url,
                                   max_retries=0, timeout=30.0)
    request = Request("mid", (Message.user("What changed today?"),),
                      stable_prefix=stable_prefix(), tools=TOOLS, max_tokens=512)
    body = {"model": "bench-overhead", "max_tokens": 512,
            "messages": anthropic_port.encode_messages(request),
            "system": anthropic_port.encode_system(request),
            "tools": anthropic_port.encode_tools(request)}
    server.reply_text = "Nothing much."
    via_gateway: list[float] = []
    via_sdk: list[float] = []
    for i in range(OVERHEAD_WARMUP + OVERHEAD_SAMPLES):
        began = time.perf_counter()
        await gateway.complete(request)
        middle = time.perf_counter()
        await raw.messages.create(**body)
        ended = time.perf_counter()
        if i >= OVERHEAD_WARMUP:
            via_gateway.append((middle - began) * 1000)
            via_sdk.append((ended - middle) * 1000)
    await gateway.aclose()
    await raw.close()
    own = [total - inside for total, inside in
           zip(via_gateway, provider.inside_ms[OVERHEAD_WARMUP:], strict=True)]
    return statistics.median(via_gateway), statistics.median(via_sdk), statistics.median(own)


def per_call_table(title: str, rows: list[Row]) -> str:
    lines = [title, f"{'call':>4}  {'input':>6}  {'cached':>6}  {'written':>7}  "
                    f"{'billed-eq':>9}  {'naive':>6}"]
    for r in rows:
        u = r.usage
        lines.append(f"{r.call:>4}  {u.input_tokens:>6}  {u.cached_tokens:>6}  "
                     f"{u.cache_write_tokens:>7}  {r.billed:>9.0f}  {r.naive:>6}")
    return "\n".join(lines)


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore.open(Path(tmp) / "bench.db")
        async with serving() as anth_server, serving() as oai_server:
            anth = gateway_for(store, anthropic_provider(anth_server), "anthropic/bench")
            oai = gateway_for(store, openai_provider(oai_server), "openai/bench")
            anth_rows = await conversation(anth, anth_server)
            oai_rows = await conversation(oai, oai_server)
            await anth.aclose()
            await oai.aclose()
            timings = await overhead(store, anth_server)
        store.close()
    report(anth_rows, oai_rows, *timings)


def report(anth_rows: list[Row], oai_rows: list[Row], gateway_p50: float, sdk_p50: float,
           own_p50: float) -> None:
    cached = mean([r.billed for r in anth_rows])
    naive = mean([float(r.naive) for r in anth_rows])
    oai_cached = mean([r.billed for r in oai_rows])
    oai_naive = mean([float(r.naive) for r in oai_rows])
    print(f"Gateway benchmark: {TURNS} owner turns, every other one with a tool call; stable "
          f"prefix {anth_rows[0].usage.input_tokens} input tokens with the tool definitions "
          "on the first call.")
    print("billed-eq = input tokens billed-equivalent: uncached + 0.1 x cached + 1.25 x "
          "written to the cache; naive = every input token resent uncached (same calls).\n")
    print(per_call_table("Anthropic (cache_control on tools, stable prefix, conversation tail)",
                         anth_rows))
    print()
    print(per_call_table("OpenAI (automatic prefix caching, 1024+ tokens, steps of 128)",
                         oai_rows))
    overhead_ms = gateway_p50 - sdk_p50
    print(f"\n{'figure':<34}{'value':>10}  target")
    print(f"{'tokens/call cached (Anthropic)':<34}{cached:>10.0f}")
    print(f"{'tokens/call naive (Anthropic)':<34}{naive:>10.0f}")
    print(f"{'token reduction (Anthropic)':<34}{1 - cached / naive:>10.3f}  >= 0.65")
    print(f"{'token reduction (OpenAI)':<34}{1 - oai_cached / oai_naive:>10.3f}")
    print(f"{'gateway call p50 ms':<34}{gateway_p50:>10.2f}")
    print(f"{'raw SDK call p50 ms (baseline)':<34}{sdk_p50:>10.2f}")
    print(f"{'gateway overhead p50 ms':<34}{overhead_ms:>10.2f}  <= 2")
    print(f"{'gateway own time p50 ms':<34}{own_p50:>10.2f}  (outside the provider call)")
    print(json.dumps({
        "tokens_per_call_cached": round(cached, 1), "tokens_per_call_naive": round(naive, 1),
        "token_reduction": round(1 - cached / naive, 3),
        "token_reduction_openai": round(1 - oai_cached / oai_naive, 3),
        "overhead_ms_p50": round(overhead_ms, 3), "gateway_call_ms_p50": round(gateway_p50, 3),
        "sdk_call_ms_p50": round(sdk_p50, 3), "gateway_own_ms_p50": round(own_p50, 3)}))


if __name__ == "__main__":
    asyncio.run(main())
