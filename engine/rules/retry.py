"""Whether a failed attempt is tried again, and after how long."""

from __future__ import annotations

from dataclasses import dataclass

from engine.model import FailureClass

DEFAULT_DELAYS_S: tuple[float, ...] = (120.0, 600.0, 1800.0)

TRANSIENT = frozenset({
    FailureClass.RATE_LIMIT,
    FailureClass.TIMEOUT,
    FailureClass.SERVER_ERROR,
    FailureClass.CRASH,
    FailureClass.CONTEXT_LOSS,
    FailureClass.OPTIMISTIC_COMPLETION,
})
"""Classes a later attempt may cure. ``other``, ``invalid_input``, ``uncertain_effect`` and
``dependency`` fail at once: repeating them repeats the failure or risks a repeated effect."""


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay_s: float = 0.0


def decide(
    failure: FailureClass,
    attempts: int,
    max_attempts: int,
    delays_s: tuple[float, ...] = DEFAULT_DELAYS_S,
    hinted_delay_s: float | None = None,
    transient: bool | None = None,
) -> RetryDecision:
    """``attempts`` counts the one that just failed. A hint (``retry-after``) wins over the
    backoff table when longer; ``transient`` overrides the class's own verdict."""
    is_transient = failure in TRANSIENT if transient is None else transient
    if not is_transient or attempts >= max_attempts:
        return RetryDecision(retry=False)
    base = delays_s[min(attempts - 1, len(delays_s) - 1)] if delays_s else 0.0
    return RetryDecision(retry=True, delay_s=max(base, hinted_delay_s or 0.0))
