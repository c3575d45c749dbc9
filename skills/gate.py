"""The trust gate: the one place every skill call passes, from a model's tool call or a skill job.

A call runs when its job's trust allows the skill's risk (``security.risk.needs_approval``).
When it does not, a model's call becomes a skill job of its own, parked for the owner with a
decision card, and the model is told it waits; nothing runs. That job, once the owner approves
its card, runs the skill exactly once (the effects ledger holds the run); refused, it is
cancelled. Decisions are logged with their reasons, never announced: text that tried to make a
model act is data, and data does not raise alerts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from enum import StrEnum

from engine.cards import REFUSALS, Card, Choice
from engine.model import JSON, BackendName, FailureClass, Job, JobSpec, JobState, Trust
from engine.signals import Fail, NeedsApproval
from engine.workers.backend import RunContext
from security.authority import inherit
from security.redaction import redact
from security.risk import DATA, needs_approval
from skills.engine_link import EngineLink
from skills.errors import SkillRefused
from skills.skill import Skill

log = logging.getLogger("steward.skills")

APPROVAL_CHOICES = [Choice("approve", "Approve"), Choice("deny", "Deny")]
ARGS_SHOWN_CHARS = 1500
"""How much of an action's arguments its card shows; the owner decides on what they see."""
UNCERTAIN = ("the approved action was interrupted while it ran and may have happened in part; "
             "it was not repeated")


class Approval(StrEnum):
    """Where the owner's decision on a parked action stands."""

    NONE = "none"
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    EXPIRED = "expired"


class Verdict(StrEnum):
    RUN = "run"
    ASK = "ask"
    """Wait for the owner: a model's call becomes a parked job; a job parks itself."""
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str


def decide(trust: str, skill: Skill, approval: Approval) -> Decision:
    """Whether a job of ``trust`` may run ``skill`` now, given the owner's decision so far."""
    risk = skill.risk.value
    if skill.data_refused and inherit(trust) == DATA:
        return Decision(Verdict.REFUSE, f"{skill.name} never runs for a job born from data")
    if not needs_approval(trust, skill.risk):
        return Decision(Verdict.RUN, f"{risk} risk is allowed at {trust} trust")
    if approval is Approval.APPROVED:
        return Decision(Verdict.RUN, "the owner approved it")
    if approval is Approval.REFUSED:
        return Decision(Verdict.REFUSE, "the owner refused it")
    if approval is Approval.EXPIRED:
        return Decision(Verdict.REFUSE, "its decision card expired unanswered")
    return Decision(Verdict.ASK, f"{risk} risk at {trust} trust needs the owner's approval")


def approval_of(cards: list[Card]) -> Approval:
    """The owner's decision from the cards opened for one job: the last answer counts."""
    answered = [c for c in cards if c.state == "resolved"]
    if answered:
        return Approval.REFUSED if answered[-1].choice in REFUSALS else Approval.APPROVED
    if any(c.state == "open" for c in cards):
        return Approval.PENDING
    return Approval.EXPIRED if cards else Approval.NONE


def canonical(args: dict[str, JSON]) -> str:
    return json.dumps(args, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def args_digest(args: dict[str, JSON]) -> str:
    """A short stable digest of a call's arguments, for idempotency keys."""
    return hashlib.sha256(canonical(args).encode()).hexdigest()[:24]


def call_key(job_id: int, skill: str, args: dict[str, JSON]) -> str:
    """The idempotency key of the parked job for one call: a retried or resumed job that makes
    the same call finds the same job and card instead of opening new ones."""
    digest = args_digest(args)
    return f"gate:{job_id}:{skill}:{digest}"


def action_text(skill: Skill, args: dict[str, JSON]) -> str:
    """The action in one line for a card or a park reason, secrets removed, cut if long."""
    shown = redact(canonical(args))
    if len(shown) > ARGS_SHOWN_CHARS:
        shown = f"{shown[:ARGS_SHOWN_CHARS]}… ({len(shown) - ARGS_SHOWN_CHARS} more characters)"
    return f"{skill.name} ({skill.risk.value} risk) with {shown}"


def question(job: Job, skill: Skill, args: dict[str, JSON]) -> str:
    who = job.name or f"a {job.backend.value} job"
    why = (" It is working on content from outside (a message, e-mail or web page), so it "
           "may only act with your approval." if job.trust is Trust.DATA else "")
    return f"Job {job.id} ({who}) wants to run {action_text(skill, args)}.{why}"


def waiting_answer(proxy: Job, card: Card) -> dict[str, JSON]:
    """What the model is told about a call that was parked (or decided since)."""
    if proxy.state is JobState.DONE:
        return {"status": "done", "job": proxy.id, "card": card.id,
                "note": "The owner approved this action and it ran.", "result": proxy.result}
    if proxy.state.terminal:
        return {"status": proxy.state.value, "job": proxy.id, "card": card.id,
                "note": "This action was not approved and did not run. Do not try it again."}
    return {"status": "awaiting_approval", "job": proxy.id, "card": card.id,
            "note": "This action needs the owner's approval and has not run; it will run only "
                    "if they approve it. Do not ask for it again: carry on with the rest of "
                    "the task and say in your answer that it awaits approval."}


class Gate:
    """Applies ``decide`` to every call and carries out its verdict."""

    def __init__(self, link: EngineLink) -> None:
        self._link = link

    async def through_llm(self, skill: Skill, args: dict[str, JSON], ctx: RunContext) -> JSON:
        """A model's tool call inside ``ctx.job``: run, refuse, or park it as its own job."""
        job = ctx.job
        decision = decide(job.trust, skill, Approval.NONE)
        _log(job, skill, decision)
        if decision.verdict is Verdict.RUN:
            return await skill.run(args, ctx)
        if decision.verdict is Verdict.REFUSE:
            raise SkillRefused(f"{skill.name} refused: {decision.reason}")
        return self._park(skill, args, job)

    async def through_job(self, skill: Skill, args: dict[str, JSON], ctx: RunContext) -> JSON:
        """A skill job (``{"skill": ..., "args": ...}``): run, refuse, or wait for the owner."""
        job = ctx.job
        approval = Approval.NONE
        if needs_approval(job.trust, skill.risk):
            approval = approval_of(self._link.cards_of(job.id))
        decision = decide(job.trust, skill, approval)
        _log(job, skill, decision)
        if decision.verdict is Verdict.REFUSE:
            raise SkillRefused(f"{skill.name} refused: {decision.reason}")
        if decision.verdict is Verdict.ASK:
            raise NeedsApproval(action_text(skill, args))
        if approval is Approval.APPROVED:
            return await _once(skill, args, ctx)
        return await skill.run(args, ctx)

    def _park(self, skill: Skill, args: dict[str, JSON], job: Job) -> dict[str, JSON]:
        """The call as a skill job of its own with its card, written together: the job never
        runs before its card exists, and a repeated call finds both."""
        link = self._link
        with link.engine.store.transaction():
            lineage = link.lineage(job.id)
            proxy_id = link.engine.submit(JobSpec(
                BackendName.SKILL, {"skill": skill.name, "args": args}, priority=job.priority,
                origin=job.origin, trust=Trust(inherit(job.trust)),
                idempotency_key=call_key(job.id, skill.name, args),
                name=f"{skill.name} for job {job.id}", reply_to=job.reply_to))
            link.record(proxy_id, lineage.acting_id, lineage.depth, "proxy")
            cards = link.cards_of(proxy_id)
            card = cards[-1] if cards else link.cards.open(
                question(job, skill, args), APPROVAL_CHOICES, job_id=proxy_id)
        log.info("gate: job %d's call to %s waits for the owner as job %d (card %d)",
                 job.id, skill.name, proxy_id, card.id)
        return waiting_answer(link.job(proxy_id), card)


async def _once(skill: Skill, args: dict[str, JSON], ctx: RunContext) -> JSON:
    """Run an approved action at most once: a job that comes back after it ran (a crash, a
    retry) gets the recorded result or failure instead of a second run."""
    key = f"approved:{ctx.job.id}"
    effect = ctx.effects.get(key)
    if effect is not None:
        if effect.state == "done":
            return effect.result
        reason = effect.result.get("reason") if isinstance(effect.result, dict) else None
        raise Fail(str(reason or UNCERTAIN), FailureClass.UNCERTAIN_EFFECT)
    ctx.effects.start(key, ctx.job.id)
    try:
        result = await skill.run(args, ctx)
    except Exception as exc:
        ctx.effects.fail(key, f"{skill.name} failed: {exc}", FailureClass.OTHER)
        raise
    ctx.effects.done(key, result)
    return result


def _log(job: Job, skill: Skill, decision: Decision) -> None:
    log.info("gate: job %d (%s trust) %s %s: %s", job.id, job.trust.value,
             decision.verdict.value, skill.name, decision.reason)
