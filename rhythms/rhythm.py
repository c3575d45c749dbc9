"""A rhythm: a named cron template with three phases, gather → decide → act.

- **gather** (code, no model) returns the facts the rhythm looks at, as JSON;
- **decide** runs only when those facts' fingerprint differs from the last decided run's (a run
  asked for by the owner always decides): it says what to do and why, and may ask a cheap model;
- **act** is the framework's: the decision's jobs are submitted and its notices written to the
  outbox, in one transaction with the new fingerprint.

Most scheduled runs end at the fingerprint, with zero model calls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from engine.model import JSON, JobSpec
from rhythms.errors import ScheduleError
from rhythms.schedule import Cron, Misfire, parse_cron

NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What one run knows about itself when it gathers and decides."""

    name: str
    slot: float
    """The planned instant (UTC timestamp), or the moment of a run now."""
    manual: bool
    now: float
    tz: str
    last_run_at: float | None
    """When the rhythm last gathered and decided: "since last time" starts here."""
    job_id: int


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file a notice carries (a chart): sent as a photo when ``photo``."""

    name: str
    content: bytes
    photo: bool = True


@dataclass(frozen=True, slots=True)
class Notice:
    """A message to the owner, in plain text; ``urgent`` passes quiet hours."""

    text: str
    urgent: bool = False
    attachment: Attachment | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """A line for the owner that the judgment layer weighs (it is the fire job's summary, with
    its importance): notified, put in the digest, or kept silent, and counted in the notify
    rate like any background result."""

    text: str
    importance: float = 0.9
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """What decide chose, and why: jobs to submit, notices to send as they are (the briefing,
    the weekly review), a report for the judgment layer, and ``apply``: writes of the rhythm's
    own (filing e-mail) that must commit with the rest; it returns the jobs it submitted."""

    reason: str
    jobs: tuple[JobSpec, ...] = ()
    notices: tuple[Notice, ...] = ()
    report: Report | None = None
    apply: Callable[[], Sequence[int]] | None = None

    @property
    def acts(self) -> bool:
        return bool(self.jobs or self.notices or self.report or self.apply)


def quiet(reason: str) -> Decision:
    """Nothing to do this time."""
    return Decision(reason)


Gather = Callable[[RunInfo], Awaitable[JSON]]
Decide = Callable[[JSON, JSON, RunInfo], Awaitable[Decision]]
"""(facts now, facts of the last decided run or None, the run) → decision."""


@dataclass(frozen=True, slots=True)
class Rhythm:
    """A rhythm's definition. ``disabled`` says why it cannot run here (shown in the list)."""

    name: str
    cron: str
    misfire: Misfire
    about: str
    gather: Gather
    decide: Decide
    priority: int = 3
    disabled: str | None = None
    timeout_s: float = 600.0

    def schedule(self, tz: str) -> Cron:
        """The validated schedule in ``tz``; ``ScheduleError`` names what is wrong."""
        if not self.name or not set(self.name) <= NAME_CHARS or len(self.name) > 40:
            raise ScheduleError(f"rhythm name {self.name!r}: use lowercase letters, digits, "
                                "'-' and '_' (up to 40)")
        try:
            return parse_cron(self.cron, tz)
        except ScheduleError as exc:
            raise ScheduleError(f"rhythm {self.name}: {exc}") from None


def fingerprint(facts: JSON) -> str:
    """A stable hash of gathered facts: equal facts, equal fingerprints (key order aside)."""
    text = json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def check_unique(rhythms: Sequence[Rhythm]) -> None:
    seen: set[str] = set()
    for r in rhythms:
        if r.name in seen:
            raise ScheduleError(f"rhythm {r.name!r} is registered twice")
        seen.add(r.name)
