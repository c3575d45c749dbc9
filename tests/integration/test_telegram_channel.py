"""The Telegram channel against the fake Bot API: what it sends, and its error kinds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from bot.channel import Button, MessageRef, send_long
from bot.errors import Blocked, Rejected, SendLater, Unreachable
from bot.telegram.channel import TelegramChannel  # sets PTB_TIMEDELTA, read when used
from tests.fakes.telegram_server import FakeTelegram, Fault

OWNER = 4242
HOME = f"telegram:{OWNER}"


@pytest.fixture
async def wired() -> AsyncIterator[tuple[FakeTelegram, TelegramChannel]]:
    fake = FakeTelegram()
    await fake.start()
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        yield fake, TelegramChannel(bot)
    await fake.stop()


async def test_send_edit_typing_and_files(wired: tuple[FakeTelegram, TelegramChannel]) -> None:
    fake, channel = wired
    ref = await channel.send(HOME, "<b>hi</b>", [[Button("Yes", "card:1:yes")]])
    await channel.edit(ref, "<b>hi</b> ✓")
    await channel.typing(HOME)
    doc = await channel.send_file(HOME, "notes.txt", b"hello", "<i>notes</i>")
    photo = await channel.send_file(HOME, "p.png", b"\x89PNG", photo=True)
    [sent] = fake.sent_by("sendMessage")
    assert sent.params["parse_mode"] == "HTML"
    assert sent.params["link_preview_options"] == {"is_disabled": True}
    assert sent.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "card:1:yes"
    [edit] = fake.sent_by("editMessageText")
    assert (edit.params["chat_id"], edit.params["message_id"]) == (OWNER, int(ref.message_id))
    assert fake.sent_by("sendChatAction")[0].params["action"] == "typing"
    assert fake.sent_by("sendDocument")[0].params["caption"] == "<i>notes</i>"
    assert fake.sent_by("sendPhoto")[0].params["chat_id"] == OWNER
    assert ref.address == doc.address == photo.address == HOME


async def test_long_text_goes_in_parts_with_buttons_last(
        wired: tuple[FakeTelegram, TelegramChannel]) -> None:
    fake, channel = wired
    await send_long(channel, HOME, "<b>" + "word " * 2000 + "</b>", [[Button("Ok", "card:1:ok")]])
    sent = fake.sent_by("sendMessage")
    assert len(sent) == 3
    assert all(len(s.params["text"]) <= 4096 for s in sent)
    assert ["reply_markup" in s.params for s in sent] == [False, False, True]


@pytest.mark.parametrize(("fault", "kind"), [
    (Fault(429, "Too Many Requests: retry after 3", 3), SendLater),
    (Fault(500, "Internal Server Error", None), Unreachable),
    (Fault(502, "Bad Gateway", None), Unreachable),
    (Fault(403, "Forbidden: bot was blocked by the user", None), Blocked),
    (Fault(400, "Bad Request: can't parse entities", None), Rejected),
])
async def test_telegram_errors_become_channel_errors(
        wired: tuple[FakeTelegram, TelegramChannel], fault: Fault, kind: type) -> None:
    fake, channel = wired
    fake.fail_next("sendMessage", fault)
    with pytest.raises(kind) as caught:
        await channel.send(HOME, "x")
    if isinstance(caught.value, SendLater):
        assert caught.value.delay_s == 3


async def test_an_unchanged_edit_is_not_an_error(
        wired: tuple[FakeTelegram, TelegramChannel]) -> None:
    fake, channel = wired
    fake.fail_next("editMessageText", Fault(400, "Bad Request: message is not modified", None))
    await channel.edit(MessageRef(HOME, "1000"), "same")


async def test_only_telegram_addresses_are_taken(
        wired: tuple[FakeTelegram, TelegramChannel]) -> None:
    _, channel = wired
    with pytest.raises(Rejected, match="not a Telegram address"):
        await channel.send("console", "x")
