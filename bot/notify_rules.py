"""Pure rules for notifications: quiet hours, retry backoff, what counts as the owner's answer."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from bot.settings import QuietHours
from engine.model import JSON, Job, Origin
from engine.rules.judgment import REQUEST_KEY_PREFIX  # the judgment layer's, shared

BACKOFF_MAX_S = 60.0


def request_key(channel: str, update: str, suffix: str = "") -> str:
    """The idempotency key of the job a request (one update) makes: a redelivered update finds
    the job it already made instead of making another."""
    return f"{REQUEST_KEY_PREFIX}{channel}:{update}{':' + suffix if suffix else ''}"


def quiet_until(now: float, quiet: QuietHours | None, zone: tzinfo) -> float | None:
    """The end of the quiet window ``now`` falls in (a timestamp), or None outside one."""
    if quiet is None:
        return None
    local = datetime.fromtimestamp(now, zone)
    clock = local.time().replace(tzinfo=None)
    wraps = quiet.start > quiet.end
    inside = (clock >= quiet.start or clock < quiet.end) if wraps else (
        quiet.start <= clock < quiet.end)
    if not inside:
        return None
    day = local.date() + timedelta(days=1) if wraps and clock >= quiet.start else local.date()
    return datetime.combine(day, quiet.end, tzinfo=zone).timestamp()


def is_answer(topic: str, job: Job | None) -> bool:
    """A reply to something the owner asked: never held back."""
    if topic != "job_finished" or job is None:
        return False
    return job.origin is Origin.OWNER or (job.idempotency_key or "").startswith(
        REQUEST_KEY_PREFIX)


def urgent(payload: JSON) -> bool:
    """A notification that says it is urgent goes through quiet hours."""
    return isinstance(payload, dict) and payload.get("urgent") is True


def backoff_s(failures: int) -> float:
    """How long to wait after the ``failures``-th network failure in a row: 1, 2, 4 … 60 s."""
    return min(2.0 ** max(failures - 1, 0), BACKOFF_MAX_S)
