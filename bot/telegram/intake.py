"""DATA from Telegram: forwarded messages and documents turned into inbox items, never commands."""

from __future__ import annotations

import time
from dataclasses import dataclass

from telegram import (
    Document,
    Message,
    MessageOrigin,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
)
from telegram.error import TelegramError

from bot.channel import telegram_address
from bot.errors import Refused
from bot.intake_parse import classify, decode_text, mail_text, parse_email
from bot.repo import InboxItem
from bot.telegram.channel import translate
from engine.model import JSON


def is_data(message: Message) -> bool:
    """Anything but the owner's own typing: a forward, a document, a message via a bot."""
    return bool(message.forward_origin or message.document or message.via_bot
                or message.is_automatic_forward)


def describe(origin: MessageOrigin | None) -> str:
    """Who wrote a forwarded message, as far as Telegram tells."""
    match origin:
        case MessageOriginUser(sender_user=user):
            return user.full_name + (f" (@{user.username})" if user.username else "")
        case MessageOriginHiddenUser(sender_user_name=name):
            return name
        case MessageOriginChat(sender_chat=chat):
            return chat.title or chat.full_name or "a chat"
        case MessageOriginChannel(chat=chat):
            return chat.title or "a channel"
    return ""


def provenance(message: Message, update_id: int) -> dict[str, JSON]:
    origin = message.forward_origin
    found: dict[str, JSON] = {"channel": "telegram", "chat_id": message.chat.id,
                              "message_id": message.message_id, "update_id": update_id,
                              "received_at": time.time()}
    if origin is not None:
        found.update(forwarded=True, origin_type=origin.type,
                     origin_date=origin.date.timestamp(), origin=describe(origin))
    if message.via_bot is not None:
        found["via_bot"] = message.via_bot.username
    return found


@dataclass(frozen=True, slots=True)
class _Where:
    """Where an item came from: the chat, the message (its key), and its provenance."""

    source: str
    key: str
    provenance: dict[str, JSON]

    def item(self, kind: str, origin: str, body: str, size: int, *, subject: str | None = None,
             filename: str | None = None, mime: str | None = None) -> InboxItem:
        return InboxItem(kind=kind, source=self.source, request_key=self.key, origin=origin,
                         body=body, size_bytes=size, provenance=self.provenance,
                         subject=subject, filename=filename, mime=mime)


async def item_from(message: Message, update_id: int) -> InboxItem:
    """The inbox item a DATA message carries; ``Refused`` (politely worded) if it can't be."""
    where = _Where(telegram_address(message.chat.id),
                   f"telegram:{message.chat.id}:{message.message_id}",
                   provenance(message, update_id))
    sender = describe(message.forward_origin) or (
        f"@{message.via_bot.username}" if message.via_bot else "")
    if message.document is not None:
        return await _document(message.document, sender, where)
    text = message.text or message.caption
    if not text:
        raise Refused("I can file forwarded text, e-mails (.eml) and text documents; "
                      "this message has no text I can read.")
    return where.item("forward", sender or "unknown", text, len(text.encode()))


async def _document(doc: Document, sender: str, where: _Where) -> InboxItem:
    kind = classify(doc.file_name, doc.mime_type, doc.file_size)
    name = doc.file_name or "the document"
    try:
        data = bytes(await (await doc.get_file()).download_as_bytearray())
    except TelegramError as exc:
        raise Refused(f"I couldn't download {name} ({translate(exc)}); please send it "
                      "again.") from exc
    if kind == "email":
        mail = parse_email(data, name)
        return where.item("email", mail.sender or sender or "unknown", mail_text(mail),
                          len(data), subject=mail.subject or None, filename=doc.file_name,
                          mime=doc.mime_type)
    return where.item("document", sender or "the owner", decode_text(data, name), len(data),
                      filename=doc.file_name, mime=doc.mime_type)
