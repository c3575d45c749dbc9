"""Chat with the assistant: the owner's text becomes an ``llm`` job answered through the outbox,
with the conversation so far, memory (added by the backend) and the memory tools."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from bot.channel import Channel
from bot.chat_history import CHAT_NAME, ChatHistory, Exchange, messages
from bot.commands import Command, Reply, Request
from bot.errors import ChannelError
from bot.notify_rules import request_key
from engine.loop import Engine
from engine.model import JSON, BackendName, JobSpec, Origin, Trust
from engine.store.base import Store

log = logging.getLogger("steward.bot")

NO_MODEL = ("No model provider is configured, so I can't answer that yet. Set "
            "<code>OPENAI_API_KEY</code>, <code>ANTHROPIC_API_KEY</code>, "
            "<code>OPENROUTER_API_KEY</code> or <code>OLLAMA_BASE_URL</code> where "
            "<code>steward run</code> runs, then restart it.")
TYPING_EVERY_S = 4.0
"""Telegram shows "typing…" for about 5 s: refreshed a little sooner while the job runs."""
CHAT_PRIORITY = 1
CHAT_SKILLS = ("ask_owner", "core_edit", "files_list", "files_read", "files_write", "job_status",
               "recall", "remember", "shell", "spawn_job", "web_fetch")
"""The tools a chat job may call, each through the skills' trust gate (``shell`` always waits
for the owner's tap); the composition root gives the ``llm`` backend the registry's tools
(``bot.app.make_llm``)."""


def ask_spec(text: str, request: Request, *, priority: int, name: str,
             history: Sequence[Exchange] = (), skills: Sequence[str] = (),
             recall: bool = False) -> JobSpec:
    """The ``llm`` job that answers the owner's ``text``, back to where it was asked, after
    the ``history`` of the conversation, with ``skills`` (tools) it may call and, with
    ``recall``, the memories most relevant to ``text`` leading it."""
    payload: dict[str, JSON] = {"prompt": text}
    if history:
        payload = {"messages": list(messages(history, text))}
    if skills:
        payload["skills"] = list(skills)
    if recall:
        payload["recall"] = True
    return JobSpec(BackendName.LLM, payload, priority=priority, origin=Origin.OWNER,
                   trust=Trust.COMMAND, idempotency_key=request_key(*_split(request.key)),
                   name=name, reply_to=request.address)


def _split(key: str) -> tuple[str, str]:
    channel, _, rest = key.partition(":")
    return channel, rest


class Chat:
    """Submits the owner's messages as jobs and keeps "typing…" up until each one ends."""

    def __init__(self, engine: Engine, channel: Channel, llm: bool,
                 on_done: Callable[[], None] = lambda: None,
                 typing_every_s: float = TYPING_EVERY_S) -> None:
        self._engine = engine
        self._channel = channel
        self._llm = llm
        self._on_done = on_done
        self._every_s = typing_every_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._history = ChatHistory(engine.store)

    async def ask(self, request: Request) -> Reply | None:
        """Submit and return at once (None: the answer comes through the outbox)."""
        if not self._llm:
            return Reply(NO_MODEL)
        history = await self._history.recent(request.address)
        job_id = self._engine.submit(ask_spec(request.text, request, priority=CHAT_PRIORITY,
                                              name=CHAT_NAME, history=history,
                                              skills=CHAT_SKILLS, recall=True))
        task = asyncio.create_task(self._typing(request.address, job_id),
                                   name=f"typing-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return None

    async def _typing(self, address: str, job_id: int) -> None:
        done = asyncio.ensure_future(self._engine.result(job_id))
        done.add_done_callback(_settle)
        try:
            while not self._engine.store.get_job(job_id).state.terminal:
                try:
                    await self._channel.typing(address)
                except ChannelError as exc:  # only a courtesy: the answer still comes
                    log.debug("typing indicator: %s", exc)
                await asyncio.wait({done}, timeout=self._every_s)
        finally:
            done.cancel()
        self._on_done()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _settle(done: asyncio.Future[object]) -> None:
    """The waiter's outcome is read from the store; its exception is expected, not lost."""
    if not done.cancelled():
        done.exception()


def chat_commands(store: Store) -> list[Command]:
    """``/new``: start a fresh conversation (what memory kept stays)."""
    history = ChatHistory(store)

    async def new(request: Request, args: str) -> Reply:
        history.start_over(request.address)
        return Reply("Starting a fresh conversation: I won't carry the earlier messages "
                     "into my answers. What I remember stays (/recall, /core).")

    return [Command("new", "/new", "start a fresh conversation", new)]
