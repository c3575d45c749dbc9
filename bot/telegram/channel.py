"""The Telegram channel over PTB's ``Bot``, Telegram's errors as channel error kinds."""

from __future__ import annotations

import datetime as dtm
from collections.abc import Awaitable
from typing import TypeVar

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot import markup
from bot.channel import TELEGRAM, Address, Keyboard, MessageRef
from bot.errors import Blocked, ChannelError, Rejected, SendLater, Unreachable
from security.redaction import redact

T = TypeVar("T")

NOT_MODIFIED = "message is not modified"
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def chat_of(address: str) -> int:
    """The chat id of a ``telegram:<chat>`` address."""
    found = Address.parse(address)
    if found.kind != TELEGRAM or not found.chat.lstrip("-").isdigit():
        raise Rejected(f"not a Telegram address: {address!r}")
    return int(found.chat)


def reply_markup(buttons: Keyboard) -> InlineKeyboardMarkup | None:
    rows = [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in buttons]
    return InlineKeyboardMarkup(rows) if rows else None


def translate(exc: TelegramError) -> ChannelError:
    """A Telegram error as what the caller should do about it."""
    if isinstance(exc, RetryAfter):
        wait = exc.retry_after
        return SendLater(wait.total_seconds() if isinstance(wait, dtm.timedelta) else float(wait))
    if isinstance(exc, Forbidden | ChatMigrated):
        return Blocked(exc.message)
    if isinstance(exc, BadRequest):
        return Rejected(exc.message)
    if isinstance(exc, InvalidToken):
        return Unreachable(f"Telegram refused the bot token: {exc.message}")
    return Unreachable(exc.message if isinstance(exc, NetworkError) else str(exc))


async def _call(call: Awaitable[T]) -> T:
    try:
        return await call
    except TelegramError as exc:
        raise translate(exc) from exc


class TelegramChannel:
    """One ``Channel`` for every ``telegram:<chat>`` address, over one ``Bot``."""

    kind = TELEGRAM
    limit = markup.LIMIT

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send(self, address: str, text: str, buttons: Keyboard = (), *,
                   plain: bool = False) -> MessageRef:
        sent: Message = await _call(self._bot.send_message(
            chat_id=chat_of(address), text=redact(text),
            parse_mode=None if plain else ParseMode.HTML,
            reply_markup=reply_markup(buttons), link_preview_options=NO_PREVIEW))
        return MessageRef(address, str(sent.message_id))

    async def edit(self, ref: MessageRef, text: str, buttons: Keyboard = ()) -> None:
        try:
            await _call(self._bot.edit_message_text(
                text=redact(text), chat_id=chat_of(ref.address), message_id=int(ref.message_id),
                parse_mode=ParseMode.HTML, reply_markup=reply_markup(buttons),
                link_preview_options=NO_PREVIEW))
        except Rejected as exc:
            if NOT_MODIFIED not in str(exc).lower():  # the same edit twice: already shown
                raise

    async def typing(self, address: str) -> None:
        await _call(self._bot.send_chat_action(chat_id=chat_of(address),
                                               action=ChatAction.TYPING))

    async def send_file(self, address: str, name: str, content: bytes, caption: str = "", *,
                        photo: bool = False) -> MessageRef:
        chat = chat_of(address)
        upload = InputFile(content, filename=name)
        caption = redact(caption)
        mode = ParseMode.HTML if caption else None
        if photo:
            sent = await _call(self._bot.send_photo(chat_id=chat, photo=upload,
                                                    caption=caption or None, parse_mode=mode))
        else:
            sent = await _call(self._bot.send_document(chat_id=chat, document=upload,
                                                       caption=caption or None, parse_mode=mode))
        return MessageRef(address, str(sent.message_id))
