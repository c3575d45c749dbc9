"""Risk tiers of actions and the approval rule: who may do what without the owner's tap."""

from __future__ import annotations

from enum import StrEnum

COMMAND = "command"
DATA = "data"
TRUSTS = frozenset({COMMAND, DATA})


class Risk(StrEnum):
    """How much harm an action can do; ordered LOW < MEDIUM < HIGH."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Risk) -> bool:
        """True when this tier is ``other`` or riskier."""
        return self.rank >= other.rank


_RANK = {Risk.LOW: 0, Risk.MEDIUM: 1, Risk.HIGH: 2}

# The least risky tier that waits for the owner, per trust.
_APPROVAL_FROM = {COMMAND: Risk.HIGH, DATA: Risk.MEDIUM}


def parse_risk(text: str) -> Risk:
    """A risk tier from its name (case and surrounding blanks ignored)."""
    try:
        return Risk(str(text).strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Risk)
        raise ValueError(f"unknown risk tier {text!r}; expected one of {names}") from None


def needs_approval(trust: str, risk: Risk) -> bool:
    """Whether an action of ``risk`` by a job of ``trust`` waits for the owner's approval.

    A job the owner commanded acts alone up to medium risk; a job born from data may only
    read and summarise, so medium and high both wait. Unknown trust counts as data."""
    threshold = _APPROVAL_FROM.get(str(trust), Risk.MEDIUM)
    return Risk(risk).at_least(threshold)
