"""Errors of the model gateway.

GatewayError                 every error carries ``failure``, ``transient`` and ``retry_after_s``
├── ProviderError            one candidate's call failed (the waterfall may fall through)
│   ├── RateLimited          429: rate_limit, transient, ``retry_after_s`` from the headers
│   ├── ProviderDown         5xx, 529 overloaded, connection refused or dropped, timeout
│   ├── BadResponse          malformed JSON, a reply of an unexpected shape, an empty completion
│   └── RequestRejected      400/401/403/404/413/422: this request or key is refused; not transient
├── SpendCapReached          the daily cap blocks every paid candidate; not transient
├── NoProviderAvailable      every candidate skipped (breaker open, rate limited, not configured)
├── UnknownTier              a tier the routing table does not have
└── ModelsFileError          the routing table (models.toml) cannot be loaded; one clear line
"""

from __future__ import annotations

from engine.gateway.messages import ZERO_USAGE, Usage
from engine.model import FailureClass


class GatewayError(Exception):
    """Root of every error the gateway raises. ``transient`` says whether trying again later
    may help; ``retry_after_s`` (if known) says when."""

    failure: FailureClass = FailureClass.OTHER
    transient: bool = False

    def __init__(self, message: str, *, failure: FailureClass | None = None,
                 transient: bool | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        if failure is not None:
            self.failure = failure
        if transient is not None:
            self.transient = transient
        self.retry_after_s = retry_after_s


class ProviderError(GatewayError):
    """One provider call failed; ``status`` is the HTTP status when there was one."""

    transient = True
    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None,
                 failure: FailureClass | None = None, transient: bool | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message, failure=failure, transient=transient,
                         retry_after_s=retry_after_s)
        self.status = status


class RateLimited(ProviderError):
    failure = FailureClass.RATE_LIMIT


class ProviderDown(ProviderError):
    """A server error, an overload, a refused or dropped connection (``server_error``) or a
    timeout (``timeout``)."""

    failure = FailureClass.SERVER_ERROR


class BadResponse(ProviderError):
    """The provider answered, but not with something usable; ``usage`` is what it billed."""

    failure = FailureClass.OTHER

    def __init__(self, message: str, *, usage: Usage = ZERO_USAGE, status: int | None = None,
                 failure: FailureClass | None = None, transient: bool | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message, status=status, failure=failure, transient=transient,
                         retry_after_s=retry_after_s)
        self.usage = usage


class RequestRejected(ProviderError):
    """The provider refused the request itself (bad input, bad key, unknown model)."""

    failure = FailureClass.INVALID_INPUT
    transient = False


class SpendCapReached(GatewayError):
    def __init__(self, cap_usd: float, spent_usd: float, day: str) -> None:
        super().__init__(
            f"daily spend cap reached: {_usd(spent_usd)} of {_usd(cap_usd)} spent on {day}; "
            "paid models resume tomorrow (or raise STEWARD_DAILY_SPEND_CAP_USD)",
            failure=FailureClass.OTHER, transient=False)
        self.cap_usd = cap_usd
        self.spent_usd = spent_usd


class NoProviderAvailable(GatewayError):
    """Nothing could be tried. Transient when a breaker or a rate limit will lift, and then
    ``retry_after_s`` is the soonest of those moments."""


class UnknownTier(GatewayError):
    failure = FailureClass.INVALID_INPUT


class ModelsFileError(GatewayError):
    failure = FailureClass.INVALID_INPUT


def _usd(amount: float) -> str:
    """Dollars to the cent, or to a hundredth of a cent below one cent."""
    return f"${amount:.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.4f}"
