"""The console channel: the same commands and chat over the terminal, cards as numbered choices."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TextIO

from bot import markup
from bot.cards_view import CardDesk
from bot.channel import CONSOLE, Keyboard, MessageRef
from bot.chat import Chat
from bot.commands import Command, Commands, Reply, Request, respond, usage
from bot.core import BotCore
from bot.markup import esc
from bot.notifier import Notifier, NotifyConfig
from engine.cards import Cards
from engine.rules.cards import Tap, unpack
from security.redaction import redact

GREETING = ("Steward console. Type /help for the commands, or just write to the assistant. "
            "Ctrl-D or /quit leaves.")
QUIT = frozenset({"/quit", "/exit"})


class ConsoleChannel:
    """Prints messages as plain text; buttons become numbered choices answered with /tap."""

    kind = CONSOLE
    limit = 1 << 20

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._count = 0

    async def send(self, address: str, text: str, buttons: Keyboard = (), *,
                   plain: bool = False) -> MessageRef:
        self._count += 1
        body = text if plain else markup.plain(text)
        self._write(body + _choices(buttons))
        return MessageRef(CONSOLE, str(self._count))

    async def edit(self, ref: MessageRef, text: str, buttons: Keyboard = ()) -> None:
        self._write(f"(update to message {ref.message_id})\n{markup.plain(text)}"
                    + _choices(buttons))

    async def typing(self, address: str) -> None:
        return None

    async def send_file(self, address: str, name: str, content: bytes, caption: str = "", *,
                        photo: bool = False) -> MessageRef:
        self._count += 1
        note = f"[{'photo' if photo else 'document'} {name}, {len(content)} bytes]"
        self._write(f"{note}\n{markup.plain(caption)}".rstrip())
        return MessageRef(CONSOLE, str(self._count))

    def _write(self, text: str) -> None:
        self._out.write(redact(text).rstrip("\n") + "\n\n")
        self._out.flush()


def _choices(buttons: Keyboard) -> str:
    """A card's buttons as numbered lines and the /tap that answers them."""
    taps = [t for row in buttons for b in row if (t := unpack(b.data)) is not None]
    labels = [b.label for row in buttons for b in row]
    if not labels:
        return ""
    lines = [f"  {i}. {label}" for i, label in enumerate(labels, 1)]
    if taps:
        lines.append(f"Answer with /tap {taps[0].card_id} N (N from 1 to {len(labels)})")
    return "\n" + "\n".join(lines)


def tap_command(cards: Cards, desk: CardDesk) -> Command:
    """``/tap CARD CHOICE``: the console's button press; CHOICE is a number or a choice key."""
    async def tap(request: Request, args: str) -> Reply:
        parts = args.split()
        if len(parts) != 2 or not parts[0].isdigit():
            return usage("/tap CARD CHOICE", "e.g. /tap 3 1 for the first choice of card 3")
        card = cards.get(int(parts[0]))
        key = parts[1].lower()
        if card is not None and key.isdigit() and 0 < int(key) <= len(card.choices):
            key = card.choices[int(key) - 1].key
        outcome = desk.tap(Tap(int(parts[0]), key) if card else None, None)
        return Reply(esc(outcome.note) + (f"\n{outcome.edit}" if outcome.edit else ""))

    return Command("tap", "/tap CARD CHOICE", "answer a decision card", tap, listed=False)


class Console:
    """Reads the owner's lines and answers them, as the Telegram bot would."""

    def __init__(self, commands: Commands, chat: Chat, channel: ConsoleChannel,
                 session: str) -> None:
        self._commands = commands
        self._chat = chat
        self._channel = channel
        self._session = session
        self._count = 0

    async def serve(self, lines: AsyncIterator[str]) -> None:
        """Answer lines until the input ends or the owner quits."""
        await self._channel.send(CONSOLE, esc(GREETING))
        async for line in lines:
            text = line.strip()
            if text.lower() in QUIT:
                return
            if text:
                await self.handle(text)

    async def handle(self, text: str) -> None:
        self._count += 1
        request = Request(text, CONSOLE, f"console:{self._session}:{self._count}")
        if self._commands.is_command(text):
            reply: Reply | None = await self._commands.handle(request)
        else:
            reply = await self._chat.ask(request)
        if reply is not None:
            await respond(self._channel, CONSOLE, reply)


async def read_lines(stream: TextIO) -> AsyncIterator[str]:
    """Lines of ``stream`` without blocking the loop. A daemon thread reads the raw file
    descriptor, so a terminal, a pipe or a file all work, a pending read never holds up the
    process's exit, and no lock of ``sys.stdin`` is held when the interpreter shuts down."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def put(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop already closed: nobody is reading
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def pump() -> None:
        try:
            for line in _raw_lines(stream.fileno()):
                put(line)
        except OSError:  # the descriptor was closed under us
            pass
        finally:
            put(None)

    threading.Thread(target=pump, name="console-stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


def _raw_lines(fd: int) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    while chunk := os.read(fd, 65536):
        pending += decoder.decode(chunk)
        *lines, pending = pending.split("\n")
        yield from lines
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


async def run_console(core: BotCore, notify: NotifyConfig, stop: asyncio.Event,
                      stdin: TextIO, stdout: TextIO) -> None:
    """The console channel until the input ends, the owner quits or ``stop`` is set; its
    notifier shows answers and decision cards as they come. Ending the console sets ``stop``."""
    channel = ConsoleChannel(stdout)
    desk = CardDesk(core.engine, core.cards, channel, CONSOLE, core.clock)
    notifier = Notifier(core.engine.store, core.repo, {CONSOLE: channel}, notify,
                        desk if notify.owns_home else None, core.clock)
    chat = Chat(core.engine, channel, core.llm, on_done=notifier.poke)
    commands = core.commands(extra=[tap_command(core.cards, desk)])
    console = Console(commands, chat, channel, uuid.uuid4().hex[:8])
    notifying = asyncio.create_task(notifier.run(stop), name="console-notifier")
    serving = asyncio.create_task(console.serve(read_lines(stdin)), name="console")
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await asyncio.gather(notifying, stopping)
        await chat.close()
