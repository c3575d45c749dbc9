"""Decision cards on a real store: resolved exactly once, resuming or stopping their job."""

from __future__ import annotations

from pathlib import Path

from engine.cards import Cards, Choice, TapOutcome
from engine.loop import Engine
from engine.model import JobState
from engine.rules.cards import Tap
from engine.signals import NeedsApproval
from engine.workers.backend import RunContext
from tests.fakes.clock import FakeClock
from tests.integration.engine_kit import Skills, make_engine, skill

YES_NO = [Choice("approve", "Send it"), Choice("deny", "Don't")]


async def parked_job(tmp_path: Path, clock: FakeClock) -> tuple[Engine, Cards, int, list[str]]:
    ran: list[str] = []

    async def send(args: dict[str, object], ctx: RunContext) -> object:
        if ctx.attempt == 1:
            raise NeedsApproval("send the e-mail to the landlord")
        ran.append("sent")
        return "sent"

    engine = make_engine(tmp_path, Skills({"send": send}), clock)
    job_id = engine.submit(skill("send"))
    await engine.run_until_idle()
    assert engine.store.get_job(job_id).state is JobState.AWAITING_APPROVAL
    return engine, Cards(engine.store, clock), job_id, ran


async def test_approving_resumes_the_job_exactly_once(tmp_path: Path) -> None:
    clock = FakeClock()
    engine, cards, job_id, ran = await parked_job(tmp_path, clock)
    card = cards.open("Send the e-mail?", YES_NO, job_id=job_id)
    first = engine.resolve_card(cards, Tap(card.id, "approve"))
    second = engine.resolve_card(cards, Tap(card.id, "deny"))
    assert first.outcome is TapOutcome.RESOLVED
    assert second.outcome is TapOutcome.ALREADY
    assert second.card is not None
    assert second.card.choice == "approve"
    await engine.run_until_idle()
    assert engine.store.get_job(job_id).state is JobState.DONE
    assert ran == ["sent"]


async def test_denying_cancels_the_job(tmp_path: Path) -> None:
    clock = FakeClock()
    engine, cards, job_id, ran = await parked_job(tmp_path, clock)
    card = cards.open("Send the e-mail?", YES_NO, job_id=job_id)
    assert cards.resolve(Tap(card.id, "deny")).outcome is TapOutcome.RESOLVED
    job = engine.store.get_job(job_id)
    assert job.state is JobState.CANCELLED
    assert "the owner chose 'deny'" in (job.error or "")
    assert ran == []


async def test_an_expired_card_says_so_and_stops_its_job(tmp_path: Path) -> None:
    clock = FakeClock()
    engine, cards, job_id, _ = await parked_job(tmp_path, clock)
    card = cards.open("Send the e-mail?", YES_NO, job_id=job_id, expires_in_s=60)
    clock.advance(61)
    result = cards.resolve(Tap(card.id, "approve"))
    assert result.outcome is TapOutcome.EXPIRED
    assert result.card is not None
    assert result.card.state == "expired"
    assert engine.store.get_job(job_id).state is JobState.CANCELLED


async def test_a_tap_on_an_overdue_card_settles_every_overdue_card(tmp_path: Path) -> None:
    clock = FakeClock()
    engine, cards, first, _ = await parked_job(tmp_path, clock)
    second = engine.submit(skill("send", idempotency_key="second"))
    await engine.run_until_idle()
    tapped = cards.open("Send the first?", YES_NO, job_id=first, expires_in_s=60)
    cards.open("Send the second?", YES_NO, job_id=second, expires_in_s=60)
    clock.advance(61)
    assert cards.resolve(Tap(tapped.id, "approve")).outcome is TapOutcome.EXPIRED
    assert engine.store.get_job(first).state is JobState.CANCELLED
    assert engine.store.get_job(second).state is JobState.CANCELLED


async def test_the_sweep_expires_due_cards(tmp_path: Path) -> None:
    clock = FakeClock()
    _engine, cards, job_id, _ = await parked_job(tmp_path, clock)
    cards.open("Later?", YES_NO, job_id=job_id, expires_in_s=10)
    keep = cards.open("No deadline?", YES_NO)
    clock.advance(11)
    assert [c.job_id for c in cards.expire_due()] == [job_id]
    assert [c.id for c in cards.pending()] == [keep.id]


async def test_forged_or_stale_taps_change_nothing(tmp_path: Path) -> None:
    clock = FakeClock()
    engine, cards, job_id, _ = await parked_job(tmp_path, clock)
    card = cards.open("Send?", YES_NO, job_id=job_id)
    assert cards.resolve(Tap(card.id + 100, "approve")).outcome is TapOutcome.UNKNOWN
    assert cards.resolve(Tap(card.id, "nuke")).outcome is TapOutcome.UNKNOWN
    assert engine.store.get_job(job_id).state is JobState.AWAITING_APPROVAL
    assert [c.id for c in cards.pending()] == [card.id]
