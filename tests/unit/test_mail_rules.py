"""Outgoing e-mail rules, pure: addresses, the risk tier, and the send job's verdict."""

from __future__ import annotations

import pytest

from security.risk import Risk
from skills.email_rules import (
    MANY_RECIPIENTS,
    address,
    addresses,
    body_of,
    mail_risk,
    subject_of,
    verdict,
)

OWNER = "me@example.org"


@pytest.mark.parametrize(("text", "bare"), [
    ("ann@example.com", "ann@example.com"),
    ("Ann Lee <Ann@Example.COM>", "ann@example.com"),
    ('"Lee, Ann" <ann@example.com>', None),          # a comma could smuggle a second address
    ("ann@example.com\r\nBcc: eve@evil.net", None),  # header injection
    ("not an address", None),
    ("ann@localhost", None),
    ("", None),
])
def test_address(text: str, bare: str | None) -> None:
    assert address(text) == bare


def test_addresses_dedupe_and_name_the_bad_one() -> None:
    assert addresses(["a@x.org", "A@X.org", "b@x.org"], "to", required=True) == [
        "a@x.org", "b@x.org"]
    assert addresses("a@x.org", "to", required=True) == ["a@x.org"]
    assert addresses(None, "cc", required=False) == []
    with pytest.raises(ValueError, match="to: 'nope' is not an e-mail address"):
        addresses(["a@x.org", "nope"], "to", required=True)
    with pytest.raises(ValueError, match="to needs at least one address"):
        addresses([], "to", required=True)
    with pytest.raises(ValueError, match="must be a list"):
        addresses({"a": 1}, "cc", required=False)


def test_subject_and_body_are_checked() -> None:
    assert subject_of("  Hello ") == "Hello"
    with pytest.raises(ValueError, match="one line"):
        subject_of("Hi\r\nBcc: eve@evil.net")
    with pytest.raises(ValueError, match="longer than"):
        subject_of("x" * 300)
    with pytest.raises(ValueError, match="non-empty"):
        body_of("   ")


KNOWN = {"ann@example.com", "bob@example.com"}


@pytest.mark.parametrize(("recipients", "attachments", "risk", "words"), [
    ([OWNER], 0, Risk.LOW, "only to you"),
    (["ann@example.com"], 0, Risk.MEDIUM, "written to before"),
    ([OWNER, "bob@example.com"], 0, Risk.MEDIUM, "written to before"),
    (["eve@evil.net"], 0, Risk.HIGH, "new recipient: eve@evil.net"),
    (["ann@example.com", "x@a.net", "y@b.net"], 0, Risk.HIGH, "new recipients: x@a.net, y@b.net"),
    ([OWNER], 1, Risk.HIGH, "attachments"),
    ([f"p{i}@example.com" for i in range(MANY_RECIPIENTS + 1)], 0, Risk.HIGH, "6 recipients"),
])
def test_mail_risk(recipients: list[str], attachments: int, risk: Risk, words: str) -> None:
    known = KNOWN | {f"p{i}@example.com" for i in range(10)}
    call = mail_risk(recipients, OWNER, known, attachments)
    assert call.risk is risk
    assert words in call.reason


def test_without_an_owner_address_nothing_is_low_risk() -> None:
    assert mail_risk([OWNER], None, KNOWN).risk is Risk.HIGH
    assert mail_risk(["ann@example.com"], None, KNOWN).risk is Risk.MEDIUM


@pytest.mark.parametrize(("state", "choice", "review", "expected"), [
    ("open", None, False, "close_and_send"),
    ("open", None, True, "review"),
    ("resolved", "cancel", False, "cancelled"),
    ("resolved", "cancel", True, "cancelled"),
    ("resolved", "send", True, "send"),
    ("resolved", "sent", False, "send"),
    ("expired", None, True, "cancelled"),
    (None, None, False, "close_and_send"),
    (None, None, True, "review"),
])
def test_verdict(state: str | None, choice: str | None, review: bool, expected: str) -> None:
    assert verdict(state, choice, review) == expected
