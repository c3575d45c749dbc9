"""How an attempt ended, as the loop records it."""

from __future__ import annotations

from dataclasses import dataclass

from engine.model import JSON, FailureClass


@dataclass(frozen=True, slots=True)
class Succeeded:
    result: JSON
    text: str
    """The result as JSON text: serialised once, when the attempt ends, so a value JSON cannot
    carry fails that attempt instead of the transaction that records it."""


@dataclass(frozen=True, slots=True)
class Failed:
    failure: FailureClass
    error: str
    transient: bool | None = None
    """None lets the failure class decide."""
    delay_s: float | None = None


@dataclass(frozen=True, slots=True)
class Cancelled:
    reason: str


@dataclass(frozen=True, slots=True)
class Released:
    """Handed back unfinished by a graceful shutdown."""


@dataclass(frozen=True, slots=True)
class Parked:
    action: str


Outcome = Succeeded | Failed | Cancelled | Released | Parked
