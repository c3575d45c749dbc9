"""The ``Channel`` port: how the bot talks to its owner (Telegram, the console), and addresses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot import markup
from security.redaction import redact

CONSOLE = "console"
TELEGRAM = "telegram"


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: what it says and the callback data it carries (≤ 64 bytes)."""

    label: str
    data: str


Keyboard = Sequence[Sequence[Button]]
"""Rows of buttons under a message."""


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message a channel sent, so it can be edited later: ``telegram:<chat>:<message>``."""

    address: str
    message_id: str

    def __str__(self) -> str:
        return f"{self.address}:{self.message_id}"

    @classmethod
    def parse(cls, text: str) -> MessageRef | None:
        address, sep, message_id = text.rpartition(":")
        if not sep or not address or not message_id:
            return None
        return cls(address, message_id)


@dataclass(frozen=True, slots=True)
class Address:
    """Where a message goes: a channel kind and, for Telegram, the chat."""

    kind: str
    chat: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.chat}" if self.chat else self.kind

    @classmethod
    def parse(cls, text: str) -> Address:
        kind, _, chat = text.partition(":")
        return cls(kind, chat)


def telegram_address(chat_id: int) -> str:
    return str(Address(TELEGRAM, str(chat_id)))


def kind_of(address: str) -> str:
    return Address.parse(address).kind


class Channel(Protocol):
    """Sends to one kind of address. Every method raises a ``bot.errors.ChannelError`` kind
    when delivery fails, so the notifier can decide what to do without knowing the channel.
    Implementations pass every text and caption through ``security.redaction.redact``."""

    kind: str
    limit: int
    """The longest text one message may carry."""

    async def send(self, address: str, text: str, buttons: Keyboard = (), *,
                   plain: bool = False) -> MessageRef:
        """Send one message of at most ``limit`` characters: Telegram HTML, or plain text."""
        ...

    async def edit(self, ref: MessageRef, text: str, buttons: Keyboard = ()) -> None:
        """Replace a sent message's text (and its buttons: none removes them)."""
        ...

    async def typing(self, address: str) -> None:
        """Show that an answer is being prepared."""
        ...

    async def send_file(self, address: str, name: str, content: bytes, caption: str = "", *,
                        photo: bool = False) -> MessageRef:
        """Send a document (or a photo) with an optional HTML caption."""
        ...


async def send_long(channel: Channel, address: str, text: str,
                    buttons: Keyboard = ()) -> MessageRef:
    """Send HTML of any length in safe parts; the buttons go under the last part. Redacted
    before it is split, so no secret is cut in two and slips through."""
    *head, last = markup.split(redact(text), channel.limit)
    for part in head:
        await channel.send(address, part)
    return await channel.send(address, last, buttons)
