"""Control-flow signals a backend raises to steer its job; they are not failures."""

from __future__ import annotations

from engine.model import FailureClass


class Signal(Exception):
    """Root of the signals."""


class Retry(Signal):
    """Fail this attempt as transient and try again after ``delay_s`` (or the default backoff)."""

    def __init__(
        self,
        reason: str,
        failure_class: FailureClass = FailureClass.OTHER,
        delay_s: float | None = None,
    ) -> None:
        self.reason = reason
        self.failure_class = failure_class
        self.delay_s = delay_s
        super().__init__(reason)


class Fail(Signal):
    """Fail this job for good, with a reason for the owner; no retry helps."""

    def __init__(self, reason: str, failure_class: FailureClass = FailureClass.OTHER) -> None:
        self.reason = reason
        self.failure_class = failure_class
        super().__init__(reason)


class NeedsApproval(Signal):
    """Park the job until the owner approves ``action``."""

    def __init__(self, action: str) -> None:
        self.action = action
        super().__init__(action)
