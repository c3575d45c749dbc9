"""Health and metrics as pure values: a snapshot, its health verdict, its Prometheus text."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.repo import OutboxCounts
from engine.model import JobState

TICK_SILENCE_S = 30.0
"""The engine ticks at least every ``STEWARD_TICK_SECONDS``; silent this long (or three ticks,
if longer) it is not healthy."""


@dataclass
class Vitals:
    """Where the live figures come from; each running part fills in what it knows."""

    jobs: Callable[[], Mapping[JobState, int]]
    tick_age_s: Callable[[], float]
    tick_limit_s: float
    outbox: Callable[[], OutboxCounts]
    poll_age_s: Callable[[], float | None] = lambda: None
    poll_limit_s: float = 120.0
    dropped: Callable[[], Mapping[str, int]] = dict
    repeats: Callable[[], int] = lambda: 0
    restarts: Callable[[], int] = lambda: 0

    def snapshot(self) -> Snapshot:
        return Snapshot(dict(self.jobs()), self.tick_age_s(), self.tick_limit_s, self.outbox(),
                        self.poll_age_s(), self.poll_limit_s, dict(self.dropped()),
                        self.repeats(), self.restarts())


@dataclass(frozen=True, slots=True)
class Snapshot:
    jobs: dict[JobState, int]
    tick_age_s: float
    tick_limit_s: float
    outbox: OutboxCounts
    poll_age_s: float | None = None
    poll_limit_s: float = 120.0
    dropped: dict[str, int] = field(default_factory=dict)
    repeats: int = 0
    poll_restarts: int = 0


def health(s: Snapshot) -> list[str]:
    """What is wrong, one phrase each; empty when healthy."""
    problems = []
    if s.tick_age_s > s.tick_limit_s:
        problems.append(f"the engine loop has not ticked for {s.tick_age_s:.0f} s")
    if s.poll_age_s is not None and s.poll_age_s > s.poll_limit_s:
        problems.append(f"Telegram polling has not answered for {s.poll_age_s:.0f} s")
    return problems


def _metric(name: str, kind: str, about: str, samples: list[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {about}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {_number(value)}" for labels, value in samples]
    return lines


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def exposition(s: Snapshot) -> str:
    """The Prometheus text format (version 0.0.4) of a snapshot."""
    lines = _metric("steward_jobs", "gauge", "Jobs by state.",
                    [(f'{{state="{state.value}"}}', s.jobs.get(state, 0)) for state in JobState])
    lines += _metric("steward_engine_tick_age_seconds", "gauge",
                     "Seconds since the engine loop last ticked.", [("", round(s.tick_age_s, 3))])
    lines += _metric("steward_outbox_pending", "gauge", "Notifications waiting to be sent.",
                     [("", s.outbox.pending)])
    lines += _metric("steward_outbox_failed", "gauge",
                     "Notifications the channel refused for good (kept, not sent).",
                     [("", s.outbox.given_up)])
    lines += _metric("steward_outbox_blocked", "gauge",
                     "Notifications held because the owner blocked the bot.",
                     [("", s.outbox.blocked)])
    lines += _metric("steward_telegram_dropped_updates_total", "counter",
                     "Updates dropped by the owner gate, by reason.",
                     [(f'{{reason="{r}"}}', n) for r, n in sorted(s.dropped.items())]
                     or [('{reason="stranger"}', 0)])
    lines += _metric("steward_telegram_repeated_updates_total", "counter",
                     "Updates seen before (redelivered after a crash) and ignored.",
                     [("", s.repeats)])
    if s.poll_age_s is not None:
        lines += _metric("steward_telegram_poll_age_seconds", "gauge",
                         "Seconds since getUpdates last answered.",
                         [("", round(s.poll_age_s, 3))])
        lines += _metric("steward_telegram_poll_restarts_total", "counter",
                         "Times the watchdog restarted stalled polling.",
                         [("", s.poll_restarts)])
    return "\n".join(lines) + "\n"
