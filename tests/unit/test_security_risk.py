"""Risk tiers, the approval matrix, trust inheritance, ownership and send delays."""

from __future__ import annotations

import pytest

from engine.model import Trust
from security.approvals import SEND_DELAY_S, needs_review, send_delay_s
from security.authority import inherit, is_owner
from security.risk import Risk, needs_approval, parse_risk


def test_tiers_are_ordered() -> None:
    assert [r.rank for r in (Risk.LOW, Risk.MEDIUM, Risk.HIGH)] == [0, 1, 2]
    assert Risk.HIGH.at_least(Risk.MEDIUM)
    assert Risk.MEDIUM.at_least(Risk.MEDIUM)
    assert not Risk.LOW.at_least(Risk.MEDIUM)
    assert sorted([Risk.HIGH, Risk.LOW, Risk.MEDIUM], key=lambda r: r.rank) == [
        Risk.LOW, Risk.MEDIUM, Risk.HIGH]


@pytest.mark.parametrize(("text", "risk"), [
    ("low", Risk.LOW), ("MEDIUM", Risk.MEDIUM), ("  High \n", Risk.HIGH)])
def test_parse_risk(text: str, risk: Risk) -> None:
    assert parse_risk(text) is risk


@pytest.mark.parametrize("text", ["", "critical", "lowish", "1"])
def test_parse_risk_names_the_choices(text: str) -> None:
    with pytest.raises(ValueError, match="expected one of low, medium, high"):
        parse_risk(text)


@pytest.mark.parametrize(("trust", "risk", "waits"), [
    ("command", Risk.LOW, False),
    ("command", Risk.MEDIUM, False),
    ("command", Risk.HIGH, True),
    ("data", Risk.LOW, False),
    ("data", Risk.MEDIUM, True),
    ("data", Risk.HIGH, True),
    ("stranger", Risk.LOW, False),
    ("stranger", Risk.MEDIUM, True),
])
def test_approval_matrix(trust: str, risk: Risk, waits: bool) -> None:
    assert needs_approval(trust, risk) is waits


def test_engine_trust_values_are_understood() -> None:
    assert needs_approval(Trust.COMMAND, Risk.MEDIUM) is False
    assert needs_approval(Trust.DATA, Risk.MEDIUM) is True
    assert inherit(Trust.DATA, Trust.COMMAND) == Trust.DATA.value


@pytest.mark.parametrize(("parent", "requested", "child"), [
    ("command", "command", "command"),
    ("command", "data", "data"),
    ("data", "command", "data"),
    ("data", "data", "data"),
    ("bogus", "command", "data"),
    ("command", "root", "data"),
])
def test_data_trust_is_sticky(parent: str, requested: str, child: str) -> None:
    assert inherit(parent, requested) == child


def test_a_grandchild_of_data_stays_data() -> None:
    trust = "data"
    for _ in range(5):
        trust = inherit(trust, "command")
    assert trust == "data"
    assert inherit("command") == "command"


@pytest.mark.parametrize(("sender", "owner", "ok"), [
    (42, 42, True), (43, 42, False), (None, 42, False), (0, 0, False), (-1, -1, False)])
def test_only_the_owner_commands(sender: int | None, owner: int, ok: bool) -> None:
    assert is_owner(sender, owner) is ok


def test_send_delays_by_tier() -> None:
    assert send_delay_s(Risk.LOW) == 3600
    assert send_delay_s("medium") == 4 * 3600
    assert send_delay_s(Risk.HIGH) == 7 * 86400
    assert set(SEND_DELAY_S) == set(Risk)
    assert [needs_review(r) for r in Risk] == [False, False, True]
    with pytest.raises(ValueError, match="severe"):
        send_delay_s("severe")
