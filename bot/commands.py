"""The owner's commands, channel-agnostic: parsed from text, answered with a short HTML reply."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from bot.channel import Channel, Keyboard, MessageRef, send_long
from bot.markup import esc

log = logging.getLogger("steward.bot")

_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@[A-Za-z0-9_]+)?(?:\s+(.*))?$", re.S)


@dataclass(frozen=True, slots=True)
class Request:
    """One message from the owner: its text, where to answer, and a key unique to it."""

    text: str
    address: str
    key: str


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: HTML, optional buttons under it, and what to do with the sent message."""

    text: str
    buttons: Keyboard = ()
    on_sent: Callable[[MessageRef], None] | None = None


Handler = Callable[[Request, str], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str
    about: str
    run: Handler
    listed: bool = True
    """False for commands only one channel offers (the console's /tap)."""


def parse(text: str) -> tuple[str, str] | None:
    """``/name@bot args`` as (name, args), or None when the text is not a command."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    return match.group(1).lower(), (match.group(2) or "").strip()


class Commands:
    """The registry: every command by name, dispatch, and the help built from it."""

    def __init__(self, commands: Iterable[Command]) -> None:
        self._by_name = {c.name: c for c in commands}
        self._by_name["help"] = Command("help", "/help", "what I can do", self._help)
        self._by_name.setdefault("start", Command("start", "/start", "say hello", self._start,
                                                  listed=False))

    def is_command(self, text: str) -> bool:
        return text.lstrip().startswith("/")

    def listing(self) -> list[tuple[str, str]]:
        """(name, description) of every listed command, for Telegram's command menu."""
        return [(c.name, c.about) for c in self._by_name.values() if c.listed]

    async def handle(self, request: Request) -> Reply:
        parsed = parse(request.text)
        if parsed is None:
            return Reply("That is not a command I can read. /help lists what I can do.")
        name, args = parsed
        command = self._by_name.get(name)
        if command is None:
            return Reply(f"I don't know /{esc(name)}. /help lists what I can do.")
        return await command.run(request, args)

    async def _help(self, request: Request, args: str) -> Reply:
        lines = ["<b>What I can do</b>"]
        lines += [f"{esc(c.usage)} — {esc(c.about)}" for c in self._by_name.values()
                  if c.listed and c.name != "help"]
        lines.append("Anything else you write is a message to the assistant; forwarded "
                     "messages and files are filed as data and summarised, never obeyed.")
        return Reply("\n".join(lines))

    async def _start(self, request: Request, args: str) -> Reply:
        return Reply("Hello, I'm Steward, your assistant. Write to me, forward me things to "
                     "file, or use a command. /help lists them.")


async def respond(channel: Channel, address: str, reply: Reply) -> MessageRef:
    """Send a reply of any length; tell it where it went."""
    ref = await send_long(channel, address, reply.text, reply.buttons)
    if reply.on_sent is not None:
        reply.on_sent(ref)
    return ref


def usage(command: str, text: str) -> Reply:
    """The answer to wrong arguments: how the command is used."""
    return Reply(f"Usage: {esc(command)} — {esc(text)}")


def job_id_arg(args: str) -> int | None:
    """A job (or card) id argument: a positive whole number, with or without a leading #."""
    text = args.strip().removeprefix("#")
    return int(text) if text.isdigit() and 0 < int(text) < 1 << 62 else None
