"""PTB handlers: commands, chat, DATA and card taps, handed to the channel-agnostic parts."""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.cards_view import CardDesk
from bot.channel import MessageRef, telegram_address
from bot.chat import Chat
from bot.commands import Commands, Reply, Request, respond
from bot.errors import ChannelError, Refused
from bot.inbox import Inbox, acknowledgement
from bot.markup import esc
from bot.telegram.channel import TelegramChannel
from bot.telegram.gate import OwnerGate
from bot.telegram.intake import is_data, item_from
from engine.errors import StoreError
from engine.rules.cards import unpack
from security.redaction import redact

log = logging.getLogger("steward.bot")

CANNOT_READ = ("I can read text, commands, forwarded messages, e-mails (.eml) and text "
               "documents; not this kind of message yet.")
ANSWER_CHARS = 200
"""Telegram's limit on the note shown after a button tap."""


class _Data(filters.MessageFilter):
    """Anything but the owner's own typing: forwards, documents, messages via a bot."""

    def filter(self, message: Message) -> bool:
        return is_data(message)


NOT_STORED = ("I couldn't take that in: my database refused the write (is the disk full?). "
              "Nothing was done with it; please send it again in a while.")


def request_of(message: Message) -> Request:
    """A request keyed by its chat and message: unique, and the same if redelivered."""
    return Request(message.text or "", telegram_address(message.chat.id),
                   f"telegram:{message.chat.id}:{message.message_id}")


class Handlers:
    """The bot's handlers over the shared command set, chat, inbox and card desk."""

    def __init__(self, commands: Commands, chat: Chat, inbox: Inbox, desk: CardDesk,
                 channel: TelegramChannel) -> None:
        self._commands = commands
        self._chat = chat
        self._inbox = inbox
        self._desk = desk
        self._channel = channel

    def install(self, app: Application, gate: OwnerGate) -> None:  # type: ignore[type-arg]
        """The gate first (group -1), then DATA before commands before chat, then the gate
        records the update as handled (group 1)."""
        new = filters.UpdateType.MESSAGE
        app.add_handler(TypeHandler(Update, gate), group=-1)
        app.add_handler(TypeHandler(Update, gate.handled), group=1)
        app.add_handler(MessageHandler(new & _Data(), self.on_data))
        app.add_handler(MessageHandler(new & filters.COMMAND, self.on_command))
        app.add_handler(MessageHandler(new & filters.TEXT, self.on_text))
        app.add_handler(CallbackQueryHandler(self.on_tap))
        app.add_handler(MessageHandler(new, self.on_other))
        app.add_error_handler(self.on_error)

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message is None:
            return
        request = request_of(update.effective_message)
        await self._answer(request.address, await self._commands.handle(request))

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message is None:
            return
        request = request_of(update.effective_message)
        reply = await self._chat.ask(request)
        if reply is not None:
            await self._answer(request.address, reply)

    async def on_data(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        address = telegram_address(message.chat.id)
        try:
            item = await item_from(message, update.update_id)
        except Refused as exc:
            await self._answer(address, Reply(esc(exc)))
            return
        filed = self._inbox.file(item)
        await self._answer(address, Reply(acknowledgement(item, filed)))

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_chat is not None:
            await self._answer(telegram_address(update.effective_chat.id), Reply(CANNOT_READ))

    async def on_tap(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        shown = query.message
        ref = (MessageRef(telegram_address(shown.chat.id), str(shown.message_id))
               if shown is not None else None)
        reply = self._desk.tap(unpack(query.data) if ref else None, ref)
        try:
            await query.answer(redact(reply.note)[:ANSWER_CHARS])
        except TelegramError as exc:
            log.warning("telegram: answering a tap failed: %s", exc)
        if reply.edit is not None and ref is not None:
            try:
                await self._channel.edit(ref, reply.edit)
            except ChannelError as exc:
                log.warning("telegram: editing the card failed: %s", exc)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log and carry on: one bad update must never stop the bot. When the database refused
        to store what the owner sent (a full disk), say so: Telegram will not send it again."""
        if not isinstance(context.error, StoreError):
            log.error("telegram: handling an update failed: %r", context.error,
                      exc_info=context.error)
            return
        log.warning("telegram: could not store an update: %s", context.error)
        message = update.effective_message if isinstance(update, Update) else None
        if message is not None:
            await self._answer(telegram_address(message.chat.id), Reply(NOT_STORED))

    async def _answer(self, address: str, reply: Reply) -> None:
        try:
            await respond(self._channel, address, reply)
        except ChannelError as exc:
            log.warning("telegram: could not answer the owner: %s", exc)

