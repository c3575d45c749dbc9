"""The trust gate's pure decisions (trust, risk, the owner's answer) and the parked call's key."""

from __future__ import annotations

import pytest

from engine.cards import Card, Choice
from engine.model import JSON
from engine.workers.backend import RunContext
from security.redaction import register_secrets
from security.risk import Risk
from skills.gate import (
    ARGS_SHOWN_CHARS,
    Approval,
    Verdict,
    action_text,
    approval_of,
    call_key,
    decide,
)
from skills.skill import Skill


async def _noop(args: dict[str, JSON], ctx: RunContext) -> JSON:
    return None


def _skill(risk: Risk, data_refused: bool = False) -> Skill:
    return Skill("act", "Acts.", {"type": "object"}, risk, _noop, data_refused)


@pytest.mark.parametrize(("trust", "risk", "approval", "verdict"), [
    ("command", Risk.LOW, Approval.NONE, Verdict.RUN),
    ("command", Risk.MEDIUM, Approval.NONE, Verdict.RUN),
    ("command", Risk.HIGH, Approval.NONE, Verdict.ASK),
    ("command", Risk.HIGH, Approval.PENDING, Verdict.ASK),
    ("command", Risk.HIGH, Approval.APPROVED, Verdict.RUN),
    ("command", Risk.HIGH, Approval.REFUSED, Verdict.REFUSE),
    ("data", Risk.LOW, Approval.NONE, Verdict.RUN),
    ("data", Risk.LOW, Approval.REFUSED, Verdict.RUN),
    ("data", Risk.MEDIUM, Approval.NONE, Verdict.ASK),
    ("data", Risk.MEDIUM, Approval.PENDING, Verdict.ASK),
    ("data", Risk.MEDIUM, Approval.APPROVED, Verdict.RUN),
    ("data", Risk.MEDIUM, Approval.REFUSED, Verdict.REFUSE),
    ("data", Risk.MEDIUM, Approval.EXPIRED, Verdict.REFUSE),
    ("data", Risk.HIGH, Approval.NONE, Verdict.ASK),
    ("data", Risk.HIGH, Approval.APPROVED, Verdict.RUN),
    ("unknown", Risk.MEDIUM, Approval.NONE, Verdict.ASK),
])
def test_decide(trust: str, risk: Risk, approval: Approval, verdict: Verdict) -> None:
    decision = decide(trust, _skill(risk), approval)
    assert decision.verdict is verdict
    assert decision.reason


@pytest.mark.parametrize("approval", list(Approval))
def test_a_skill_refused_to_data_is_refused_whatever_the_owner_said(approval: Approval) -> None:
    assert decide("data", _skill(Risk.MEDIUM, data_refused=True), approval).verdict \
        is Verdict.REFUSE
    assert decide("command", _skill(Risk.MEDIUM, data_refused=True), approval).verdict \
        is Verdict.RUN


def _card(card_id: int, state: str, choice: str | None = None) -> Card:
    return Card(card_id, 1, "q", (Choice("approve", "Approve"), Choice("deny", "Deny")), False,
                state, choice, None, 0.0, None)


@pytest.mark.parametrize(("cards", "approval"), [
    ([], Approval.NONE),
    ([_card(1, "open")], Approval.PENDING),
    ([_card(1, "resolved", "approve")], Approval.APPROVED),
    ([_card(1, "resolved", "deny")], Approval.REFUSED),
    ([_card(1, "resolved", "cancel")], Approval.REFUSED),
    ([_card(1, "expired")], Approval.EXPIRED),
    ([_card(1, "expired"), _card(2, "open")], Approval.PENDING),
    ([_card(1, "resolved", "deny"), _card(2, "resolved", "approve")], Approval.APPROVED),
])
def test_approval_of(cards: list[Card], approval: Approval) -> None:
    assert approval_of(cards) is approval


def test_call_key_is_stable_and_tells_calls_apart() -> None:
    assert call_key(7, "files_write", {"a": 1, "b": 2}) == call_key(7, "files_write",
                                                                     {"b": 2, "a": 1})
    assert call_key(7, "files_write", {"a": 1}) != call_key(8, "files_write", {"a": 1})
    assert call_key(7, "files_write", {"a": 1}) != call_key(7, "files_delete", {"a": 1})
    assert call_key(7, "files_write", {"a": 1}) != call_key(7, "files_write", {"a": 2})


def test_action_text_shows_the_arguments_without_secrets_and_cut() -> None:
    register_secrets(["canary-gate-secret-9f3a"])
    text = action_text(_skill(Risk.HIGH), {"command": "echo canary-gate-secret-9f3a"})
    assert "canary-gate-secret-9f3a" not in text
    assert "act (high risk)" in text
    long = action_text(_skill(Risk.HIGH), {"x": "y" * 5000})
    assert len(long) < ARGS_SHOWN_CHARS + 200
    assert "more characters" in long
