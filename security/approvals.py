"""How long an outgoing message waits before it leaves, and which ones need a review."""

from __future__ import annotations

from security.risk import Risk

SEND_DELAY_S: dict[Risk, float] = {
    Risk.LOW: 3600,
    Risk.MEDIUM: 4 * 3600,
    Risk.HIGH: 7 * 86400,
}


def send_delay_s(risk: Risk | str) -> float:
    """Seconds an outgoing message of ``risk`` waits, cancellable, before it is sent."""
    return SEND_DELAY_S[Risk(risk)]


def needs_review(risk: Risk | str) -> bool:
    """Whether the owner must explicitly approve the send (high risk), not only let it pass."""
    return Risk(risk) is Risk.HIGH
