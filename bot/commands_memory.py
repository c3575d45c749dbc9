"""Commands about memory (/remember /recall /forget /core) and /costs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import tzinfo
from typing import TYPE_CHECKING

from bot.commands import Command, Reply, Request, job_id_arg, usage
from bot.markup import esc
from bot.render import one_line, truncate
from engine.model import Trust

if TYPE_CHECKING:
    from bot.memory_wiring import MemoryParts
    from engine.store.base import Store

NO_MEMORY = ("Memory is not set up in this build, so I can't keep or look up memories yet.")
NO_COSTS = ("No model provider is configured, so nothing has been spent on models.")
RECALL_SHOWN = 8
REMEMBERED = {"added": "Remembered", "duplicate": "I already knew that",
              "merged": "Merged with what I knew",
              "superseded": "Remembered (it replaces an older memory)"}
CORE_CHARS = 3500


MemorySource = Callable[[], Awaitable["MemoryParts"]]
"""Opens memory on first use (LanceDB and the embedder take seconds to load) and returns it."""


def memory_commands(memory: MemorySource | None) -> list[Command]:
    m = _Memory(memory)
    return [
        Command("remember", "/remember TEXT", "keep a fact in long-term memory", m.remember),
        Command("recall", "/recall QUERY", "search long-term memory", m.recall),
        Command("forget", "/forget ID", "forget a memory", m.forget),
        Command("core", "/core", "show core memory (always in my prompt)", m.core),
    ]


def later_commands(spend_today: Callable[[], Awaitable[str]] | None) -> list[Command]:
    """/costs: what models cost today (the rhythms' commands are in ``commands_rhythms``)."""
    async def costs(request: Request, args: str) -> Reply:
        return Reply(await spend_today() if spend_today is not None else NO_COSTS)

    return [Command("costs", "/costs", "what models cost today", costs)]


class _Memory:
    """The memory commands; memory's modules load on first use (half a second, and seconds more
    for LanceDB and the embedder), so commands that never touch memory never pay for them."""

    def __init__(self, memory: MemorySource | None) -> None:
        self._open = memory

    async def remember(self, request: Request, args: str) -> Reply:
        if self._open is None:
            return Reply(NO_MEMORY)
        if not args.strip():
            return usage("/remember TEXT", "e.g. /remember my passport expires in May 2027")
        from memory.errors import MemoryFault
        from skills.memory_tools import remember

        try:
            parts = await self._open()
            added = await remember(parts.archival, args.strip(), trust=Trust.COMMAND,
                                   source=request.address)
        except MemoryFault as exc:
            return Reply(f"I couldn't keep that: {esc(exc)}.")
        said = REMEMBERED.get(str(added.outcome), "Remembered")
        return Reply(f"{said} (memory {added.id}).")

    async def recall(self, request: Request, args: str) -> Reply:
        if self._open is None:
            return Reply(NO_MEMORY)
        if not args.strip():
            return usage("/recall QUERY", "e.g. /recall passport")
        from memory.errors import MemoryFault
        from skills.memory_tools import recall

        try:
            hits = await recall((await self._open()).archival, args.strip(), RECALL_SHOWN)
        except MemoryFault as exc:
            return Reply(f"I couldn't search memory: {esc(exc)}.")
        if not hits:
            return Reply("Nothing in memory matches that.")
        lines = [f"<code>{h.memory.id}</code> {esc(truncate(one_line(h.memory.text), 200))}"
                 for h in hits]
        return Reply("\n".join(["<b>From memory</b>", *lines, "Forget one: /forget ID"]))

    async def forget(self, request: Request, args: str) -> Reply:
        if self._open is None:
            return Reply(NO_MEMORY)
        memory_id = job_id_arg(args)
        if memory_id is None:
            return usage("/forget ID", "ID is a memory number from /recall")
        from memory.errors import MemoryFault, MemoryNotFound
        from skills.memory_tools import forget

        try:
            await forget((await self._open()).archival, memory_id)
        except MemoryNotFound:
            return Reply(f"There is no memory {memory_id}.")
        except MemoryFault as exc:
            return Reply(f"I couldn't forget it: {esc(exc)}.")
        return Reply(f"Forgotten: memory {memory_id} won't come up again.")

    async def core(self, request: Request, args: str) -> Reply:
        if self._open is None:
            return Reply(NO_MEMORY)
        from skills.memory_tools import core_text

        text = core_text((await self._open()).core).strip()
        if not text:
            return Reply("Core memory is empty.")
        return Reply(f"<b>Core memory</b>\n<pre>{esc(truncate(text, CORE_CHARS))}</pre>")


def gateway_spend(store: Store, zone: tzinfo,
                  clock: Callable[[], float] = time.time) -> Callable[[], Awaitable[str]]:
    """``/costs`` from the gateway's records: what models cost since midnight."""
    async def spend_today() -> str:
        from engine.gateway.costs import day_start
        from engine.gateway.repo import GatewayRepo

        spend = GatewayRepo(store).spend_since(day_start(clock(), zone))
        return f"Model spend today: ${spend.total_usd:.2f}."

    return spend_today
