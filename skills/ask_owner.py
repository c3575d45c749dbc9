"""``ask_owner``: put a question with choices to the owner on a decision card, and wait.

The card belongs to the asking job, which parks (``NeedsApproval``) until the owner taps a
choice; the tap lets the job go on, and the call, made again as the job resumes, finds the
card answered and returns the choice. Choices are keyed ``c1``, ``c2``…, never one of the
engine's refusal keys, so any answer resumes the job instead of cancelling it.
"""

from __future__ import annotations

from engine.cards import Card, Choice
from engine.model import JSON, Trust
from engine.signals import NeedsApproval
from engine.workers.backend import RunContext
from security.redaction import redact
from security.risk import Risk
from skills.engine_link import EngineLink
from skills.errors import SkillRefused
from skills.skill import Skill, schema

MAX_CHOICES = 6
FROM_DATA = "(Asked by a job working on content from outside.) "


def card_question(text: str, trust: Trust) -> str:
    return redact((FROM_DATA if trust is Trust.DATA else "") + text.strip())


def choices_of(labels: list[str]) -> list[Choice]:
    return [Choice(f"c{i}", redact(label.strip())) for i, label in enumerate(labels, 1)]


def answer_of(card: Card) -> dict[str, JSON]:
    return {"card": card.id, "answer": card.label_of(card.choice)}


class AskOwner:
    """Opens the question's card once, and reads the owner's answer from it."""

    def __init__(self, link: EngineLink) -> None:
        self._link = link

    def skill(self) -> Skill:
        return Skill(
            "ask_owner", "Ask the owner a question with 2 to 6 short choices on a decision "
                         "card; the job waits for the answer, which this call then returns.",
            schema({"question": {"type": "string", "minLength": 1, "maxLength": 1000},
                    "choices": {"type": "array", "minItems": 2, "maxItems": MAX_CHOICES,
                                "uniqueItems": True,
                                "items": {"type": "string", "minLength": 1, "maxLength": 40}}},
                   ("question", "choices")),
            Risk.LOW, self.run)

    async def run(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        job = ctx.job
        question = card_question(str(args["question"]), job.trust)
        mine = [c for c in self._link.cards_of(job.id) if c.question == question]
        if not mine:
            card = self._link.cards.open(question, choices_of([str(c) for c in args["choices"]]),
                                         job_id=job.id)
            raise NeedsApproval(f"an answer to card {card.id}")
        card = mine[-1]
        if card.state == "resolved":
            return answer_of(card)
        if card.state == "open":
            raise NeedsApproval(f"an answer to card {card.id}")
        raise SkillRefused(f"the question on card {card.id} expired without an answer")
