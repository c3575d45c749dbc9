"""Decision cards on Telegram: one tap resolves, edits and resumes; expired, stale, cut cards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.cards import Choice
from engine.model import BackendName, JobSpec, JobState
from engine.rules.cards import pack
from tests.fakes.telegram_server import Sent
from tests.integration.bot_kit import OWNER, Running, Sender, running_bot, until

YES_NO = [Choice("approve", "Send it"), Choice("deny", "Don't")]


def buttons(params: dict[str, Any]) -> list[str]:
    markup = params.get("reply_markup") or {"inline_keyboard": []}
    return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]


async def parked(r: Running) -> tuple[int, int, int]:
    """Submit the sender, wait for its approval card; (job id, card id, card message id)."""
    job_id = r.engine.submit(JobSpec(BackendName.SKILL, {"skill": "send"}))
    [shown] = await r.fake.wait_sent("sendMessage")
    [card] = r.core.cards.pending()
    assert r.engine.store.get_job(job_id).state is JobState.AWAITING_APPROVAL
    return job_id, card.id, message_id(shown)


def message_id(sent: Sent) -> int:
    assert sent.result is not None
    return int(sent.result["message_id"])


async def test_a_tap_resolves_once_edits_the_card_and_resumes_the_job(tmp_path: Path) -> None:
    sender = Sender()
    async with running_bot(tmp_path, skills={"send": sender}) as r:
        job_id, card_id, message_id = await parked(r)
        shown = r.fake.sent_by("sendMessage")[0].params
        assert "Job 1 asks for approval to: send the e-mail to the landlord" in shown["text"]
        assert buttons(shown) == [pack(card_id, "approve"), pack(card_id, "deny")]
        r.fake.tap(OWNER, pack(card_id, "approve"), message_id)
        r.fake.tap(OWNER, pack(card_id, "deny"), message_id)  # a double tap, changing its mind
        answers = await r.fake.wait_sent("answerCallbackQuery", 2)
        await until(lambda: r.engine.store.get_job(job_id).state is JobState.DONE)
        edits = await r.fake.wait_sent("editMessageText")
    notes = sorted(a.params["text"] for a in answers)
    assert notes == ["Already decided: Approve", "Done: Approve"]
    assert edits[0].params["message_id"] == message_id
    assert "✓ <b>Approve</b>" in edits[0].params["text"]
    assert "reply_markup" not in edits[0].params or buttons(edits[0].params) == []
    assert sender.sent == 1


async def test_an_expired_card_says_so_and_cancels_its_job(tmp_path: Path) -> None:
    async with running_bot(tmp_path, skills={"send": Sender()}) as r:
        job_id = r.engine.submit(JobSpec(BackendName.SKILL, {"skill": "send"}))
        # Opened before the job parks, so the bot opens no approval card of its own:
        card = r.core.cards.open("Send it?", YES_NO, job_id=job_id, expires_in_s=0.5)
        [shown] = await r.fake.wait_sent("sendMessage")
        assert buttons(shown.params) == [pack(card.id, "approve"), pack(card.id, "deny")]
        [edit] = await r.fake.wait_sent("editMessageText", timeout_s=5)
        assert edit.params["message_id"] == message_id(shown)
        assert "Expired without a decision" in edit.params["text"]
        r.fake.tap(OWNER, pack(card.id, "approve"), edit.params["message_id"])
        [answer] = await r.fake.wait_sent("answerCallbackQuery")
        assert answer.params["text"] == "This decision expired; nothing was done."
        assert r.engine.store.get_job(job_id).state is JobState.CANCELLED


async def test_stale_and_forged_taps_change_nothing(tmp_path: Path) -> None:
    async with running_bot(tmp_path, skills={"send": Sender()}) as r:
        job_id, card_id, message_id = await parked(r)
        r.fake.tap(OWNER, pack(card_id, "approve"), message_id + 50)  # another message
        r.fake.tap(OWNER, pack(card_id + 9, "approve"), message_id)  # no such card
        r.fake.tap(OWNER, "card:1:../../etc", message_id)  # not card data at all
        r.fake.tap(OWNER, pack(card_id, "maybe"), message_id)  # a choice it never offered
        answers = await r.fake.wait_sent("answerCallbackQuery", 4)
        assert r.engine.store.get_job(job_id).state is JobState.AWAITING_APPROVAL
    notes = sorted(a.params["text"] for a in answers)
    assert notes == ["This button is no longer valid."] * 3 + [
        f"This button is out of date; /card {card_id} shows the card."]
    assert r.fake.sent_by("editMessageText") == []


async def test_a_card_too_long_for_buttons_is_opened_in_full(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as r:
        card = r.core.cards.open("Pay this invoice? " + "line item & more " * 400, YES_NO)
        [cut] = await r.fake.wait_sent("sendMessage")
        assert buttons(cut.params) == []
        assert f"with its choices, with /card {card.id}" in cut.params["text"]
        r.fake.tap(OWNER, pack(card.id, "approve"), message_id(cut))  # forged: it had no buttons
        [refused] = await r.fake.wait_sent("answerCallbackQuery")
        assert refused.params["text"] == (f"This button is out of date; /card {card.id} shows "
                                          "the card.")
        r.fake.message(OWNER, f"/card {card.id}")
        await until(lambda: buttons(r.fake.sent_by("sendMessage")[-1].params))
        parts = r.fake.sent_by("sendMessage")[1:]
        assert len(parts) == 3
        assert all(len(p.params["text"]) <= 4096 for p in parts)
        assert [buttons(p.params) for p in parts] == [
            [], [], [pack(card.id, "approve"), pack(card.id, "deny")]]
        r.fake.tap(OWNER, pack(card.id, "approve"), message_id(parts[-1]))
        answers = await r.fake.wait_sent("answerCallbackQuery", 2)
        [edit] = await r.fake.wait_sent("editMessageText")
        assert r.core.cards.get(card.id).state == "resolved"  # type: ignore[union-attr]
    assert answers[1].params["text"] == "Done: Send it"
    assert edit.params["message_id"] == message_id(parts[-1])
