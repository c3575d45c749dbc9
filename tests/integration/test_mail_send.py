"""Outgoing e-mail end to end: a real engine and store, the real aiosmtpd server on loopback,
an injected clock for the holds; exactly once, cancellable, 4xx retried, 5xx failed."""

from __future__ import annotations

import asyncio
import email
import email.policy
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import build
from bot.errors import ConfigError
from bot.settings import load_settings
from engine.model import BackendName, FailureClass, JobState
from engine.workers.skill import SkillBackend
from skills.email_send import MailOutbox, MailRepo, SendPolicy
from skills.engine_link import EngineLink
from tests.fakes.clock import FakeClock
from tests.integration.mail_kit import (
    OWNER,
    SENDER,
    Rig,
    Sink,
    make_rig,
    smtp_config,
    smtp_sink,
)

HOUR = 3600.0
CRASH_CHILD = Path(__file__).parents[1] / "fakes" / "mail_crash_child.py"


@pytest.fixture
def sink_port() -> Iterator[tuple[Sink, int]]:
    with smtp_sink() as found:
        yield found


@pytest.fixture
def sink(sink_port: tuple[Sink, int]) -> Sink:
    return sink_port[0]


@pytest.fixture
def rig(tmp_path: Path, sink_port: tuple[Sink, int]) -> Iterator[Rig]:
    made = make_rig(tmp_path, sink_port[1])
    yield made
    made.store.close()


def to_owner(**extra: Any) -> dict[str, Any]:
    return {"to": [OWNER], "subject": "Note to self", "body": "Buy milk.", **extra}


async def test_low_risk_mail_waits_an_hour_then_leaves_once(rig: Rig, sink: Sink) -> None:
    mail = await rig.queued(**to_owner())
    assert (mail.risk.value, mail.state, mail.review) == ("low", "queued", False)
    assert rig.job(mail.job_id).not_before == rig.clock.now + HOUR
    assert [c.key for c in rig.card(mail).choices] == ["cancel"]

    await rig.after(HOUR - 1)
    assert sink.delivered == []
    await rig.after(1)

    [delivery] = sink.delivered
    assert (delivery.sender, delivery.recipients) == (SENDER, [OWNER])
    sent = email.message_from_bytes(delivery.content, policy=email.policy.default)
    assert sent["Message-ID"] == mail.draft.message_id
    assert sent["Subject"] == "Note to self"
    assert sent.get_content().strip() == "Buy milk."
    assert rig.mail(mail.id).state == "sent"
    assert rig.job(mail.job_id).result["status"] == "sent"
    assert rig.card(mail).choice == "sent"  # closed by the leaving job: too late to cancel
    assert rig.tap(mail, "cancel") == "already"
    await rig.after(10 * HOUR)
    assert len(sink.delivered) == 1


@pytest.mark.parametrize(("recipients", "risk", "hold_s", "choices"), [
    ([OWNER], "low", HOUR, ["cancel"]),
    (["ann@example.com"], "medium", 4 * HOUR, ["cancel"]),
    (["stranger@example.net"], "high", 7 * 24 * HOUR, ["send", "cancel"]),
    ([f"p{i}@example.com" for i in range(6)], "high", 7 * 24 * HOUR, ["send", "cancel"]),
])
async def test_the_hold_and_the_card_follow_the_risk_tier(
        rig: Rig, recipients: list[str], risk: str, hold_s: float, choices: list[str]) -> None:
    MailRepo(rig.store).contacted(["ann@example.com"], rig.clock.now)  # written to before
    mail = await rig.queued(to=recipients, subject="Hello", body="Hi there.")
    assert mail.risk.value == risk
    assert mail.send_at - rig.clock.now == hold_s
    assert rig.job(mail.job_id).not_before == mail.send_at
    assert [c.key for c in rig.card(mail).choices] == choices
    assert risk in rig.card(mail).question
    assert rig.card(mail).urgent is (risk != "high")  # hours to cancel: through quiet hours


async def test_cancel_on_the_card_before_it_leaves_sends_nothing(rig: Rig, sink: Sink) -> None:
    mail = await rig.queued(**to_owner())
    await rig.after(HOUR / 2)
    assert rig.tap(mail, "cancel") == "resolved"
    await rig.after(HOUR)
    assert sink.delivered == []
    assert rig.mail(mail.id).state == "cancelled"
    assert rig.job(mail.job_id).result == {"status": "cancelled", "mail_id": mail.id}


async def test_cancelling_the_send_job_sends_nothing(rig: Rig, sink: Sink) -> None:
    mail = await rig.queued(**to_owner())
    assert mail.job_id is not None
    rig.engine.cancel(mail.job_id)
    await rig.after(2 * HOUR)
    assert sink.delivered == []
    assert rig.job(mail.job_id).state is JobState.CANCELLED


async def test_asking_twice_with_one_key_queues_one_mail(rig: Rig, sink: Sink) -> None:
    first = rig.outbox.queue([OWNER], [], "Once", "Only once.", key="job-7:abc")
    again = rig.outbox.queue([OWNER], [], "Once", "Only once.", key="job-7:abc")
    assert again == first
    assert [(m.id, state) for m, state in MailRepo(rig.store).recent()] == [(first.id, "waiting")]
    await rig.after(HOUR)
    assert len(sink.delivered) == 1


async def test_high_risk_mail_leaves_only_after_the_hold_and_the_owners_send(
        rig: Rig, sink: Sink) -> None:
    mail = await rig.queued(to=["stranger@example.net"], subject="Offer", body="Yes.")
    assert rig.tap(mail, "send") == "resolved"  # approved early: still held
    await rig.after(7 * 24 * HOUR - 1)
    assert sink.delivered == []
    await rig.after(1)
    assert [d.recipients for d in sink.delivered] == [["stranger@example.net"]]


async def test_high_risk_mail_without_review_parks_until_send_is_tapped(
        rig: Rig, sink: Sink) -> None:
    mail = await rig.queued(to=["stranger@example.net"], subject="Offer", body="Yes.")
    await rig.after(8 * 24 * HOUR)
    assert rig.job(mail.job_id).state is JobState.AWAITING_APPROVAL
    assert sink.delivered == []
    assert rig.tap(mail, "send") == "resolved"
    await rig.engine.run_until_idle()
    assert len(sink.delivered) == 1
    assert rig.job(mail.job_id).state is JobState.DONE


async def test_high_risk_mail_cancelled_while_parked_never_leaves(rig: Rig, sink: Sink) -> None:
    mail = await rig.queued(to=["stranger@example.net"], subject="Offer", body="Yes.")
    await rig.after(8 * 24 * HOUR)
    assert rig.tap(mail, "cancel") == "resolved"
    await rig.after(HOUR)
    assert sink.delivered == []
    assert rig.job(mail.job_id).state is JobState.CANCELLED


async def test_a_4xx_reply_is_retried_and_the_mail_leaves_once(rig: Rig, sink: Sink) -> None:
    sink.rcpt_replies.append("451 4.3.0 Try again later")
    mail = await rig.queued(**to_owner())
    await rig.after(HOUR)
    job = rig.job(mail.job_id)
    assert job.state is JobState.WAITING
    assert sink.delivered == []
    [attempt] = rig.store.attempts_of(job.id)
    assert attempt.failure_class is FailureClass.SERVER_ERROR
    assert "451" in (attempt.error or "")
    assert "Try again later" in (attempt.error or "")
    await rig.after(60)
    assert len(sink.delivered) == 1
    assert rig.job(mail.job_id).state is JobState.DONE


@pytest.mark.parametrize(("where", "reply"), [
    ("rcpt", "550 5.1.1 No such user here"),
    ("data", "554 5.7.1 Message rejected as spam"),
])
async def test_a_5xx_reply_fails_with_the_servers_reason(rig: Rig, sink: Sink, where: str,
                                                         reply: str) -> None:
    (sink.rcpt_replies if where == "rcpt" else sink.data_replies).append(reply)
    mail = await rig.queued(**to_owner())
    await rig.after(HOUR)
    job = rig.job(mail.job_id)
    assert job.state is JobState.FAILED
    assert reply.split(" ", 2)[2] in (job.error or "")
    assert reply[:3] in (job.error or "")
    assert rig.mail(mail.id).state == "failed"
    assert sink.delivered == []
    await rig.after(HOUR)
    assert len(rig.store.attempts_of(job.id)) == 1


async def test_an_unreachable_server_is_retried_naming_it(tmp_path: Path) -> None:
    with smtp_sink() as (_, port):
        pass  # the server is gone again: its port refuses connections
    rig = make_rig(tmp_path, port)
    try:
        mail = await rig.queued(**to_owner())
        await rig.after(HOUR)
        [attempt] = rig.store.attempts_of(rig.job(mail.job_id).id)
        assert f"127.0.0.1:{port}" in (attempt.error or "")
        assert rig.job(mail.job_id).state is JobState.WAITING
    finally:
        rig.store.close()


# -- crashes ------------------------------------------------------------------------------------


async def crash_mid_send(rig: Rig, sink: Sink, port: int, data_dir: Path) -> None:
    """Run the due send job in a child process and SIGKILL it when the server holds it."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CRASH_CHILD), str(data_dir), str(port))
    try:
        assert await asyncio.to_thread(sink.arrived.wait, 20.0), "the child never sent"
    finally:
        child.kill()
        await child.wait()
    sink.release.set()
    rig.clock.advance(HOUR)  # the child ran on the wall clock, past the hold


async def test_a_crash_after_data_never_sends_twice(tmp_path: Path, rig: Rig, sink: Sink,
                                                    sink_port: tuple[Sink, int]) -> None:
    mail = await rig.queued(**to_owner())
    sink.hold_at = "data"  # the server has the message; the child dies before its reply
    await crash_mid_send(rig, sink, sink_port[1], tmp_path)
    assert rig.mail(mail.id).state == "leaving"

    assert rig.engine.recover() == 1
    await rig.engine.run_until_idle()
    job = rig.job(mail.job_id)
    assert len(sink.delivered) == 1
    assert job.state is JobState.FAILED
    assert job.failure_class is FailureClass.UNCERTAIN_EFFECT
    assert mail.draft.message_id in (job.error or "")


async def test_a_crash_before_data_sends_it_once_on_recovery(
        tmp_path: Path, rig: Rig, sink: Sink, sink_port: tuple[Sink, int]) -> None:
    mail = await rig.queued(**to_owner())
    sink.hold_at = "rcpt"  # the child dies while naming the recipient: nothing left
    await crash_mid_send(rig, sink, sink_port[1], tmp_path)
    assert rig.mail(mail.id).state == "connecting"
    sink.hold_at = None

    assert rig.engine.recover() == 1
    await rig.engine.run_until_idle()
    assert len(sink.delivered) == 1
    assert rig.job(mail.job_id).state is JobState.DONE
    assert rig.mail(mail.id).state == "sent"


# -- the composition root -----------------------------------------------------------------------


async def test_steward_sends_queued_mail_when_smtp_is_configured(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch, sink_port: tuple[Sink, int]) -> None:
    sink, port = sink_port
    for name, value in {"DATA_DIR": str(clean_env / "data"), "SMTP_HOST": "127.0.0.1",
                        "SMTP_PORT": str(port), "SMTP_STARTTLS": "false",
                        "MAIL_FROM": SENDER, "OWNER_EMAIL": OWNER}.items():
        monkeypatch.setenv(f"STEWARD_{name}", value)
    app = build(load_settings())
    try:
        backend = app.backends[BackendName.SKILL]
        assert isinstance(backend, SkillBackend)
        assert "mail_deliver" in backend.names
        clock = FakeClock(time.time() - 2 * HOUR)  # queued two hours ago: its hour has passed
        outbox = MailOutbox(EngineLink(app.engine, clock), smtp_config(port), SendPolicy(OWNER))
        mail = outbox.queue([OWNER], [], "From the app", "Sent by steward.", key="app-1")
        await app.engine.run_until_idle()
        assert [d.recipients for d in sink.delivered] == [[OWNER]]
        assert outbox.repo.get(mail.id) is not None
    finally:
        app.close()


def test_a_bad_mail_setting_stops_the_start(clean_env: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_SMTP_HOST", "smtp.example.org")
    with pytest.raises(ConfigError, match="STEWARD_MAIL_FROM: required"):
        build(load_settings())
