"""Pure rules for outgoing e-mail: checked addresses, the risk tier of a message, and what its
send job does when it wakes (send, wait for the owner's review, or drop it as cancelled).

Risk tier (the first rule that matches):

* **high** — it carries attachments, goes to more than ``MANY_RECIPIENTS`` addresses, or to any
  address that is neither the owner's nor a known correspondent;
* **low** — it goes only to the owner's own address (``STEWARD_OWNER_EMAIL``);
* **medium** — every recipient is the owner or a known correspondent.

A *known correspondent* is an address Steward has already sent mail to (it actually left). Mail
*received* from an address does not make it known: a stranger cannot promote himself by writing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Literal

from engine.model import JSON
from security.risk import Risk

MANY_RECIPIENTS = 5
MAX_RECIPIENTS = 50
MAX_SUBJECT_CHARS = 200
MAX_BODY_CHARS = 100_000
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")

Verdict = Literal["send", "close_and_send", "review", "cancelled"]


@dataclass(frozen=True, slots=True)
class RiskCall:
    """A tier and the reason for it, in words the owner reads on the card."""

    risk: Risk
    reason: str


def address(text: str) -> str | None:
    """The bare, lower-case address in ``text`` (``Ann <ann@x.org>`` → ``ann@x.org``), or None
    when it is not one plain address."""
    if any(ch in text for ch in "\r\n\0,;"):
        return None
    _, found = parseaddr(text)
    return found.lower() if _ADDRESS.match(found) else None


def addresses(value: JSON, name: str, *, required: bool) -> list[str]:
    """A list of addresses from a tool argument; ``ValueError`` naming the first bad one."""
    if value is None:
        value = []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of e-mail addresses")
    found: list[str] = []
    for text in value:
        bare = address(text)
        if bare is None:
            raise ValueError(f"{name}: {text[:80]!r} is not an e-mail address")
        if bare not in found:
            found.append(bare)
    if required and not found:
        raise ValueError(f"{name} needs at least one address")
    return found


def subject_of(value: JSON) -> str:
    if not isinstance(value, str) or any(ch in value for ch in "\r\n\0"):
        raise ValueError("subject must be one line of text")
    if len(value) > MAX_SUBJECT_CHARS:
        raise ValueError(f"subject is longer than {MAX_SUBJECT_CHARS} characters")
    return value.strip()


def body_of(value: JSON) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("body must be non-empty text")
    if "\0" in value or len(value) > MAX_BODY_CHARS:
        raise ValueError(f"body must be text of at most {MAX_BODY_CHARS} characters")
    return value


def mail_risk(recipients: Sequence[str], owner: str | None, known: Collection[str],
              attachments: int = 0) -> RiskCall:
    """The tier of a message (see the module text)."""
    if attachments:
        return RiskCall(Risk.HIGH, "it carries attachments")
    if len(recipients) > MANY_RECIPIENTS:
        return RiskCall(Risk.HIGH, f"it goes to {len(recipients)} recipients")
    new = [r for r in recipients if r != owner and r not in known]
    if new:
        shown = ", ".join(new[:3]) + (" …" if len(new) > 3 else "")
        return RiskCall(Risk.HIGH, f"new recipient{'s' if len(new) > 1 else ''}: {shown}")
    if owner is not None and all(r == owner for r in recipients):
        return RiskCall(Risk.LOW, "it goes only to you")
    return RiskCall(Risk.MEDIUM, "it goes to people you have written to before")


def verdict(card_state: str | None, card_choice: str | None, review: bool) -> Verdict:
    """What a send job does once its hold has passed, given its card:

    * cancelled on the card (or the card expired)      → ``cancelled``: it never leaves;
    * the owner tapped Send                            → ``send``;
    * no review needed, card still open                → ``close_and_send``: close the card
      (from now on it cannot be cancelled), then send;
    * review needed, not given yet                     → ``review``: wait for the owner's tap.

    A missing card counts as open."""
    if card_state == "expired" or (card_state == "resolved" and card_choice == "cancel"):
        return "cancelled"
    if card_state == "resolved":
        return "send"
    return "review" if review else "close_and_send"
