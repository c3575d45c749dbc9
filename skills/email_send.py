"""Outgoing e-mail: ``send_mail`` queues a message behind a hold and a card; its job sends it once.

Queueing writes, in one transaction, the ``outgoing_mail`` row (with a Message-ID fixed now), the
send job (``mail_deliver``, ``not_before`` = now + the hold of its risk tier: low 1 h, medium
4 h, high 1 week) and a decision card for the owner: **Cancel** for low and medium, **Send** and
**Cancel** for high. When the hold has passed, the job reads the card (``email_rules.verdict``):

* Cancel was tapped                        → the mail never leaves (the job ends ``cancelled``);
* low or medium, card untouched            → the job closes the card and sends;
* high, Send tapped (during the hold)      → it sends;
* high, no Send yet                        → the job parks until the owner taps Send (it then
  leaves at once) or Cancel.

So a high-risk mail leaves at the later of its hold's end and the owner's Send, and Cancel works
until the card is closed by the leaving job. ``/cancel`` of the send job stops it too.

Exactly once: the effects ledger records the send (started before, done after) and the row's
state records how far it got. A job that comes back after a crash and finds the send started
but not done looks at the row: never reached DATA → nothing left, send afresh; reached DATA →
it may have left, so it is **not** sent again: the job fails as ``uncertain_effect`` with the
Message-ID, and only the owner's ``/retry`` sends it again (with the same Message-ID, so mail
clients that saw the first copy drop the second).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from email.utils import make_msgid

from engine.cards import Choice
from engine.model import JSON, BackendName, FailureClass, JobSpec, Origin, Trust
from engine.signals import Fail, NeedsApproval, Retry
from engine.store.base import Store
from engine.workers.backend import RunContext
from engine.workers.skill import SkillFn
from security.approvals import needs_review, send_delay_s
from security.authority import inherit
from security.risk import Risk
from skills import email_rules as rules
from skills.email_smtp import (
    Draft,
    SmtpConfig,
    SmtpFailure,
    message_bytes,
    open_envelope,
    send_data,
)
from skills.engine_link import EngineLink
from skills.errors import InvalidArguments
from skills.skill import Skill, schema

SEND_PRIORITY = 1
SEND_ATTEMPTS = 5
PREVIEW_CHARS = 500
CANCEL = Choice("cancel", "Cancel sending")
SEND = Choice("send", "Send")
CLOSED_BY_SENDING = "sent"
"""The choice the leaving job writes on an untouched card: from then on it cannot be cancelled."""
UNCERTAIN = ("the connection broke while the e-mail {mid} was being sent, so it may have left; "
             "it was not sent again. Check your Sent folder; /retry sends it again with the "
             "same Message-ID")
_ADDRESSES: dict[str, JSON] = {"type": "array", "maxItems": rules.MAX_RECIPIENTS,
                               "items": {"type": "string", "minLength": 3, "maxLength": 320}}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One queued message and how far it got."""

    id: int
    draft: Draft
    risk: Risk
    risk_reason: str
    review: bool
    send_at: float
    state: str
    job_id: int | None
    card_id: int | None
    error: str | None


def _outgoing(r: sqlite3.Row) -> Outgoing:
    draft = Draft(r["message_id"], r["sender"], tuple(json.loads(r["to_addrs"])),
                  tuple(json.loads(r["cc_addrs"])), r["subject"], r["body"], r["created_at"])
    return Outgoing(r["id"], draft, Risk(r["risk"]), r["risk_reason"], bool(r["review"]),
                    r["send_at"], r["state"], r["job_id"], r["card_id"], r["error"])


class MailRepo:
    """Outgoing mail's rows; every method is one named query in ``queries/mail.sql``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, key: str, draft: Draft, call: rules.RiskCall, send_at: float,
            asked_by: int | None) -> int:
        """The new row's id (the caller checked ``key`` is new, in the same transaction)."""
        rows = self._store.run("mail_add", {
            "request_key": key, "message_id": draft.message_id, "sender": draft.sender,
            "to_addrs": json.dumps(draft.to), "cc_addrs": json.dumps(draft.cc),
            "subject": draft.subject, "body": draft.body, "risk": call.risk.value,
            "risk_reason": call.reason, "review": int(needs_review(call.risk)),
            "send_at": send_at, "asked_by": asked_by, "now": draft.created_at})
        return int(rows[0][0])

    def by_key(self, key: str) -> Outgoing | None:
        rows = self._store.run("mail_by_key", {"request_key": key})
        return _outgoing(rows[0]) if rows else None

    def get(self, mail_id: int) -> Outgoing | None:
        rows = self._store.run("mail_get", {"id": mail_id})
        return _outgoing(rows[0]) if rows else None

    def link(self, mail_id: int, job_id: int, card_id: int) -> None:
        self._store.run("mail_link", {"id": mail_id, "job_id": job_id, "card_id": card_id})

    def set_state(self, mail_id: int, state: str, now: float, error: str | None = None) -> None:
        """Committed at once (outside a transaction): the state is how far the send got."""
        self._store.run("mail_set_state", {"id": mail_id, "state": state, "error": error,
                                           "now": now})

    def known(self, addresses: list[str]) -> set[str]:
        rows = self._store.run("mail_contacts_known", {"addresses": json.dumps(addresses)})
        return {str(r[0]) for r in rows}

    def contacted(self, addresses: list[str], now: float) -> None:
        self._store.run_many("mail_contact_sent", [{"address": a, "now": now}
                                                   for a in addresses])

    def recent(self, limit: int = 20) -> list[tuple[Outgoing, str | None]]:
        """The latest messages with the state of their send job (the truth for cancels)."""
        return [(_outgoing(r), r["job_state"]) for r in self._store.run("mail_recent",
                                                                         {"limit": limit})]


@dataclass(frozen=True, slots=True)
class SendPolicy:
    owner: str | None = None
    """The owner's own address: mail only to it is low risk."""
    zone: tzinfo = UTC


def _when(t: float, now: float, zone: tzinfo) -> str:
    hours = max(t - now, 0) / 3600
    span = f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"
    return f"{datetime.fromtimestamp(t, zone):%a %d %b %H:%M} (in {span})"


def card_question(mail: Outgoing, now: float, zone: tzinfo) -> str:
    """The card the owner sees: what goes where, why this tier, and when it leaves."""
    d = mail.draft
    head = f"E-mail to {', '.join(d.to)}" + (f", cc {', '.join(d.cc)}" if d.cc else "")
    preview = d.body if len(d.body) <= PREVIEW_CHARS else d.body[:PREVIEW_CHARS] + " …"
    when = _when(mail.send_at, now, zone)
    rule = (f"It leaves no earlier than {when}, and only once you tap Send."
            if mail.review else f"It leaves {when} unless you tap Cancel before then.")
    return (f"{head}: “{d.subject}”\n\n{preview}\n\n"
            f"Risk {mail.risk.value}: {mail.risk_reason}. {rule}")


def summary(mail: Outgoing) -> dict[str, JSON]:
    """What the model (or a caller) is told about a queued message."""
    return {"status": mail.state, "mail_id": mail.id, "message_id": mail.draft.message_id,
            "risk": mail.risk.value, "why": mail.risk_reason, "needs_review": mail.review,
            "leaves_at": datetime.fromtimestamp(mail.send_at, UTC).isoformat(),
            "note": "Queued, not sent: the owner can cancel it until it leaves"
                    + (" and must approve it." if mail.review else ".")}


def _domain(sender: str) -> str:
    return sender.rpartition("@")[2] or "steward.local"


class MailOutbox:
    """The ``send_mail`` skill and the ``mail_deliver`` job that sends what it queued."""

    def __init__(self, link: EngineLink, smtp: SmtpConfig, policy: SendPolicy) -> None:
        self._link = link
        self._smtp = smtp
        self._policy = policy

    def skills(self) -> list[Skill]:
        return [Skill(
            "send_mail", "Queue an e-mail from the owner's address. It does not leave at "
            "once: it waits (1 hour to 1 week, by risk) and the owner can cancel it; mail "
            "to new recipients waits for the owner's review. Plain text only.",
            schema({"to": _ADDRESSES, "cc": _ADDRESSES,
                    "subject": {"type": "string", "maxLength": rules.MAX_SUBJECT_CHARS},
                    "body": {"type": "string", "minLength": 1,
                             "maxLength": rules.MAX_BODY_CHARS}},
                   ("to", "subject", "body")),
            Risk.MEDIUM, self.send_mail)]

    def backend_skills(self) -> dict[str, SkillFn]:
        """Registered on the skill backend directly: only a mail's own job may send it."""
        return {"mail_deliver": self.deliver}

    @property
    def repo(self) -> MailRepo:
        return MailRepo(self._link.engine.store)

    # -- queueing -------------------------------------------------------------------------------

    async def send_mail(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        try:
            to = rules.addresses(args.get("to"), "to", required=True)
            cc = [a for a in rules.addresses(args.get("cc"), "cc", required=False)
                  if a not in to]
            subject, body = rules.subject_of(args.get("subject")), rules.body_of(args.get("body"))
        except ValueError as exc:
            raise InvalidArguments(f"send_mail: {exc}") from None
        if len(to) + len(cc) > rules.MAX_RECIPIENTS:
            raise InvalidArguments(f"send_mail: at most {rules.MAX_RECIPIENTS} recipients")
        digest = hashlib.sha256(json.dumps([to, cc, subject, body]).encode()).hexdigest()[:20]
        mail = self.queue(to, cc, subject, body, key=f"{ctx.effect_key}:{digest}",
                          asked_by=ctx.job.id, trust=ctx.job.trust)
        return summary(mail)

    def queue(self, to: list[str], cc: list[str], subject: str, body: str, *, key: str,
              asked_by: int | None = None, trust: Trust = Trust.COMMAND) -> Outgoing:
        """Queue a checked message once per ``key``: its row, send job and card together."""
        engine, now = self._link.engine, self._link.now()
        repo = MailRepo(engine.store)
        with engine.store.transaction():
            found = repo.by_key(key)
            if found is not None:
                return found
            call = rules.mail_risk([*to, *cc], self._policy.owner, repo.known([*to, *cc]))
            send_at = now + send_delay_s(call.risk)
            draft = Draft(make_msgid("steward", _domain(self._smtp.sender)), self._smtp.sender,
                          tuple(to), tuple(cc), subject, body, now)
            mail_id = repo.add(key, draft, call, send_at, asked_by)
            job_id = engine.submit(JobSpec(
                BackendName.SKILL, {"skill": "mail_deliver", "args": {"mail_id": mail_id}},
                priority=SEND_PRIORITY, origin=Origin.SYSTEM, trust=Trust(inherit(trust)),
                idempotency_key=f"mail-send:{mail_id}", not_before=send_at,
                max_attempts=SEND_ATTEMPTS, name=f"send e-mail {mail_id}"))
            mail = Outgoing(mail_id, draft, call.risk, call.reason, needs_review(call.risk),
                            send_at, "queued", job_id, None, None)
            # A hold of hours must reach the owner in time to cancel, quiet hours or not.
            card = self._link.cards.open(card_question(mail, now, self._policy.zone),
                                         [SEND, CANCEL] if mail.review else [CANCEL],
                                         job_id=job_id, urgent=not mail.review)
            repo.link(mail_id, job_id, card.id)
        return replace(mail, card_id=card.id)

    # -- sending --------------------------------------------------------------------------------

    async def deliver(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        mail = self._own_mail(args, ctx)
        if mail.state == "cancelled":
            return {"status": "cancelled", "mail_id": mail.id}
        earlier = self._resume(mail, ctx)
        if earlier is not None:
            return earlier
        now = self._link.now()
        if now < mail.send_at:
            raise Retry("the e-mail is still held", FailureClass.OTHER, mail.send_at - now)
        if not self._may_leave(mail, ctx):
            return {"status": "cancelled", "mail_id": mail.id}
        return await self._send(mail, ctx)

    def _own_mail(self, args: dict[str, JSON], ctx: RunContext) -> Outgoing:
        mail_id = args.get("mail_id")
        mail = self.repo.get(mail_id) if isinstance(mail_id, int) else None
        if mail is None or mail.job_id != ctx.job.id:
            raise Fail(f"no queued e-mail {mail_id!r} belongs to job {ctx.job.id}",
                       FailureClass.INVALID_INPUT)
        return mail

    def _resume(self, mail: Outgoing, ctx: RunContext) -> JSON | None:
        """Settle an earlier attempt's ledger entry: its result when it sent the mail, None
        when this attempt may go on."""
        effect = ctx.effects.get(ctx.effect_key)
        if effect is None:
            return None
        if effect.state == "done":
            return self._record_sent(mail, ctx, effect.result)
        if effect.state == "failed":
            result = effect.result if isinstance(effect.result, dict) else {}
            raise Fail(str(result.get("reason") or UNCERTAIN.format(mid=mail.draft.message_id)),
                       FailureClass.UNCERTAIN_EFFECT)
        if mail.state == "leaving":  # it got as far as DATA: it may have left
            raise self._failed(mail, ctx, UNCERTAIN.format(mid=mail.draft.message_id),
                               FailureClass.UNCERTAIN_EFFECT)
        ctx.effects.drop(ctx.effect_key)  # it never reached DATA: nothing left
        return None

    def _may_leave(self, mail: Outgoing, ctx: RunContext) -> bool:
        """Apply the card's verdict: False when cancelled; parks the job for a review."""
        cards = self._link.cards
        for _ in range(2):  # a tap between reading the card and closing it: read it again
            card = cards.get(mail.card_id) if mail.card_id is not None else None
            match rules.verdict(card.state if card else None, card.choice if card else None,
                                mail.review):
                case "cancelled":
                    self.repo.set_state(mail.id, "cancelled", self._link.now(),
                                        "cancelled by the owner")
                    return False
                case "review":
                    raise NeedsApproval(f"send the e-mail “{mail.draft.subject}” to "
                                        f"{', '.join(mail.draft.recipients)}")
                case "send":
                    return True
            if card is None or self._link.engine.store.run("card_resolve", {
                    "id": card.id, "choice": CLOSED_BY_SENDING, "now": self._link.now()}):
                return True
        raise Retry("the e-mail's card changed while it was being sent", FailureClass.OTHER)

    async def _send(self, mail: Outgoing, ctx: RunContext) -> JSON:
        key, draft = ctx.effect_key, mail.draft
        ctx.effects.start(key, ctx.job.id, ref=draft.message_id)
        self.repo.set_state(mail.id, "connecting", self._link.now())
        try:
            smtp = await asyncio.to_thread(open_envelope, self._smtp, draft)
        except SmtpFailure as failure:
            raise self._settle(mail, ctx, failure) from None
        except asyncio.CancelledError:
            ctx.effects.drop(key)  # DATA was never sent: nothing left
            self.repo.set_state(mail.id, "queued", self._link.now(), "stopped before sending")
            raise
        self.repo.set_state(mail.id, "leaving", self._link.now())
        work = asyncio.ensure_future(asyncio.to_thread(
            send_data, self._smtp, smtp, message_bytes(draft)))
        try:
            reply = await asyncio.shield(work)
        except SmtpFailure as failure:
            raise self._settle(mail, ctx, failure) from None
        except asyncio.CancelledError:  # DATA is on its way: see it through, then stop
            await self._see_through(mail, ctx, work)
            raise
        return self._record_sent(mail, ctx, {"server": reply})

    async def _see_through(self, mail: Outgoing, ctx: RunContext,
                           work: asyncio.Future[str]) -> None:
        """Record how a send the job was stopped in the middle of ended (bounded by the SMTP
        timeout), so its ledger entry is never left uncertain."""
        try:
            reply = await work
        except SmtpFailure as failure:
            self._settle(mail, ctx, failure)
            return
        self._record_sent(mail, ctx, {"server": reply})

    def _settle(self, mail: Outgoing, ctx: RunContext, failure: SmtpFailure) -> Retry | Fail:
        """Record a failed send and the signal that reports it to the engine."""
        now = self._link.now()
        if failure.kind == "retry":
            ctx.effects.drop(ctx.effect_key)
            self.repo.set_state(mail.id, "queued", now, failure.reason)
            return Retry(failure.reason, FailureClass.SERVER_ERROR)
        if failure.kind == "uncertain":
            return self._failed(mail, ctx, f"{failure.reason}: " + UNCERTAIN.format(
                mid=mail.draft.message_id), FailureClass.UNCERTAIN_EFFECT)
        return self._failed(mail, ctx, failure.reason, FailureClass.OTHER)

    def _failed(self, mail: Outgoing, ctx: RunContext, reason: str,
                failure: FailureClass) -> Fail:
        ctx.effects.fail(ctx.effect_key, reason, failure)
        self.repo.set_state(mail.id, "failed", self._link.now(), reason)
        return Fail(reason, failure)

    def _record_sent(self, mail: Outgoing, ctx: RunContext, result: JSON) -> JSON:
        now, store = self._link.now(), self._link.engine.store
        server = result.get("server", "") if isinstance(result, dict) else ""
        sent = self._sent(mail, str(server))
        with store.transaction():
            effect = ctx.effects.get(ctx.effect_key)
            if effect is not None and effect.state == "done":
                sent = effect.result
            else:
                ctx.effects.done(ctx.effect_key, sent)
            self.repo.set_state(mail.id, "sent", now)
            self.repo.contacted(list(mail.draft.recipients), now)
        return sent

    @staticmethod
    def _sent(mail: Outgoing, server: str) -> dict[str, JSON]:
        d = mail.draft
        return {"status": "sent", "mail_id": mail.id, "message_id": d.message_id,
                "to": list(d.to), "cc": list(d.cc), "subject": d.subject, "server": server}
