"""The one-screen picture of a Steward: gathered from the store, rendered for the terminal
(``steward status``) and for Telegram (``/status``) by the same pure renderer; the figures it
gathers also feed the Prometheus series."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from bot.app import DB_FILE
from bot.backup import BACKUPS_DIR, archive_time, archives
from bot.markup import esc
from bot.render import duration, one_line, summary, truncate
from bot.render import notify_rate as notify_rate_line
from bot.repo import BotRepo
from engine.admission import Admission, AdmissionStatus
from engine.cards import Cards
from engine.gateway.costs import day_start
from engine.judgment import Judgments, Rates
from engine.model import Job, JobState
from engine.selfheal import Incident, Incidents
from engine.store.base import Store
from rhythms.repo import RhythmRepo

FAILURES_SHOWN = 3
FAILURE_WINDOW_S = 86_400.0
WEEK_S = 7 * 86_400.0
RUNNING_SHOWN = 5
WHAT_CHARS = 48
_Escape = Callable[[str], str]
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
                     1800.0)
ATTEMPTS_PAGE = 5_000
STATE_ORDER = (JobState.RUNNING, JobState.READY, JobState.WAITING, JobState.AWAITING_APPROVAL,
               JobState.DONE, JobState.FAILED, JobState.DEAD, JobState.CANCELLED)


MISSED_WINDOW_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Breaker:
    target: str
    phase: str
    until: float | None


@dataclass(frozen=True, slots=True)
class Picture:
    """Everything the status screen shows; ``None`` means "not known here"."""

    now: float
    counts: Mapping[JobState, int]
    running: Sequence[Job] = ()
    failures: Sequence[Job] = ()
    queue_age_s: float | None = None
    open_cards: int = 0
    outbox_pending: int = 0
    outbox_given_up: int = 0
    poll_age_s: float | None = None
    admission: AdmissionStatus | None = None
    incidents: Sequence[Incident] = ()
    heals: Mapping[str, int] = field(default_factory=dict)
    spend_today_usd: float | None = None
    breakers: Sequence[Breaker] = ()
    last_backup_at: float | None = None
    engine: str | None = None
    """How the engine is: "running (pid N)", "not running", or None inside the process."""
    rates: Rates | None = None
    """The judgment layer's notify rate, today and over the last 7 days."""
    missed: Mapping[str, int] = field(default_factory=dict)
    """Rhythm slots missed in the last 24 hours, by rhythm."""


def gather(store: Store, now: float, zone: tzinfo, data_dir: Path | None = None, *,
           admission: AdmissionStatus | None = None, poll_age_s: float | None = None,
           engine: str | None = None) -> Picture:
    """Read the picture from the store (and the data dir's backups folder)."""
    incidents = Incidents(store, lambda: now)
    return Picture(
        now=now, counts=store.count_by_state(),
        running=store.list_jobs(RUNNING_SHOWN, "created", JobState.RUNNING.value),
        failures=recent_failures(store, now), queue_age_s=queue_age(store, now),
        open_cards=len(Cards(store, lambda: now).pending()),
        outbox_pending=(outbox := BotRepo(store).outbox_counts()).pending,
        outbox_given_up=outbox.given_up, poll_age_s=poll_age_s, admission=admission,
        incidents=[i for i in incidents.listing() if i.count >= incidents.threshold],
        heals=incidents.heal_counts(), spend_today_usd=spend_since(store, day_start(now, zone)),
        breakers=[b for b in breakers(store) if b.phase != "closed"],
        last_backup_at=last_backup(data_dir), engine=engine,
        rates=Judgments(store, lambda: now).notify_rates(zone),
        missed=RhythmRepo(store).missed_since(now - MISSED_WINDOW_S))


def recent_failures(store: Store, now: float) -> list[Job]:
    found = [j for state in (JobState.FAILED, JobState.DEAD)
             for j in store.list_jobs(FAILURES_SHOWN, "created", state.value)]
    recent = [j for j in found if now - (j.finished_at or 0.0) < FAILURE_WINDOW_S]
    return sorted(recent, key=lambda j: -j.id)[:FAILURES_SHOWN]


def queue_age(store: Store, now: float) -> float | None:
    """How long the oldest ready job has waited for a slot; None when none waits."""
    ready_at = store.run("ops_oldest_ready")[0]["ready_at"]
    return None if ready_at is None else max(now - float(ready_at), 0.0)


def spend_since(store: Store, since: float) -> float:
    return float(store.run("ops_spend_since", {"since": since})[0]["cost_usd"])


def breakers(store: Store) -> list[Breaker]:
    return [Breaker(r["target"], r["phase"], r["until"]) for r in store.run("ops_breakers")]


def last_backup(data_dir: Path | None) -> float | None:
    if data_dir is None:
        return None
    found = archives(data_dir / BACKUPS_DIR)
    taken = archive_time(found[0].name) if found else None
    return taken.timestamp() if taken else None


def notify_rate(store: Store, now: float) -> float | None:
    """The judgment layer's notify rate over the last 7 days (None before any result)."""
    return Judgments(store, lambda: now).notify_rate(now - WEEK_S, now).rate


def db_bytes(db: Path) -> int:
    """The database's size on disk, with its WAL."""
    total = 0
    for path in (db, db.with_name(db.name + "-wal")):
        try:
            total += os.stat(path).st_size
        except OSError:
            continue
    return total


# -- figures for Prometheus -----------------------------------------------------------------------


@dataclass(slots=True)
class Histogram:
    """Cumulative counts per upper bound (``LATENCY_BUCKETS_S``, then +Inf), with sum."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    total_s: float = 0.0

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(LATENCY_BUCKETS_S):
            if seconds <= bound:
                self.counts[i] += 1
        self.counts[-1] += 1
        self.total_s += seconds


@dataclass(frozen=True, slots=True)
class ModelTotals:
    provider: str
    model: str
    outcome: str
    calls: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class OpsFigures:
    """What ``/metrics`` adds to the vitals: work, models, disk, incidents."""

    jobs: dict[tuple[str, str], int]
    """(backend, state) → jobs."""
    queue_age_s: float
    latency: dict[tuple[str, str], Histogram]
    """(backend, attempt outcome) → run durations of attempts ended since the process began."""
    models: list[ModelTotals]
    breakers: list[Breaker]
    disk_used_ratio: float | None
    background_refused: bool
    database_bytes: int
    incidents_open: int
    heals: dict[str, int]
    notify_rate: float | None


class OpsCollector:
    """Reads the figures for each scrape; attempt durations are read once each, from a cursor,
    into histograms that start with the process (as Prometheus counters do)."""

    def __init__(self, store: Store, data_dir: Path, admission: Admission | None,
                 clock: Callable[[], float]) -> None:
        self._store = store
        self._db = data_dir / DB_FILE
        self._admission = admission
        self._clock = clock
        self._cursor = int(store.run("ops_last_attempt_id")[0]["id"])
        self._latency: dict[tuple[str, str], Histogram] = {}

    def figures(self) -> OpsFigures:
        now = self._clock()
        self._read_attempts()
        status = self._admission.status() if self._admission is not None else None
        disk = status.disk if status is not None else None
        return OpsFigures(
            jobs={(r["backend"], r["state"]): int(r["n"])
                  for r in self._store.run("ops_jobs_by_backend")},
            queue_age_s=queue_age(self._store, now) or 0.0,
            latency={k: Histogram(list(h.counts), h.total_s) for k, h in self._latency.items()},
            models=[ModelTotals(r["provider"], r["model"], r["outcome"], int(r["calls"]),
                                int(r["input_tokens"]), int(r["output_tokens"]),
                                int(r["cached_tokens"]), float(r["cost_usd"]))
                    for r in self._store.run("ops_model_calls")],
            breakers=breakers(self._store),
            disk_used_ratio=None if disk is None else disk.used_ratio,
            background_refused=bool(status and status.refusing),
            database_bytes=db_bytes(self._db),
            incidents_open=Incidents(self._store, lambda: now).open_count(),
            heals=Incidents(self._store, lambda: now).heal_counts(),
            notify_rate=notify_rate(self._store, now))

    def _read_attempts(self) -> None:
        while rows := self._store.run("ops_attempts_after",
                                      {"after": self._cursor, "limit": ATTEMPTS_PAGE}):
            for r in rows:
                key = (str(r["backend"]), str(r["outcome"]))
                self._latency.setdefault(key, Histogram()).observe(max(float(r["seconds"]), 0.0))
            self._cursor = int(rows[-1]["id"])
            if len(rows) < ATTEMPTS_PAGE:
                return


# -- rendering ------------------------------------------------------------------------------------


def render(p: Picture, html: bool = False) -> str:
    """The status screen: HTML for Telegram, plain text for the terminal."""
    def e(text: str) -> str:
        return esc(text) if html else text

    lines = ["<b>Status</b>" if html else "Status"]
    if p.engine is not None:
        lines.append(f"Engine: {p.engine}")
    lines += _jobs(p, e)
    lines += _health(p, e)
    lines.append(f"Decisions waiting: {p.open_cards}")
    notes = f"Notifications waiting: {p.outbox_pending}"
    if p.outbox_given_up:
        notes += f" ({p.outbox_given_up} could not be delivered)"
    lines.append(notes)
    if p.poll_age_s is not None:
        lines.append(f"Telegram: last poll {duration(p.poll_age_s)} ago")
    return "\n".join(lines)


def _jobs(p: Picture, e: _Escape) -> list[str]:
    queued = ", ".join(f"{p.counts[s]} {s.value.replace('_', ' ')}" for s in STATE_ORDER
                       if p.counts.get(s))
    lines = [f"Jobs: {queued or 'none yet'}"]
    if p.queue_age_s is not None and p.queue_age_s >= 1:
        lines.append(f"Oldest ready job has waited {duration(p.queue_age_s)}")
    for job in p.running:
        lines.append(f"  ▸ {job.id} {e(truncate(one_line(summary(job)), WHAT_CHARS))} "
                     f"(for {duration(max(p.now - (job.started_at or p.now), 0.0))})")
    if p.failures:
        lines.append("Recent failures:")
        lines += [f"  ✗ {j.id} {e(truncate(one_line(summary(j)), WHAT_CHARS))}: "
                  f"{e(truncate(one_line(j.error or j.state.value), 80))}" for j in p.failures]
    return lines


def _health(p: Picture, e: _Escape) -> list[str]:
    lines = []
    if p.admission is not None and p.admission.disk is not None:
        disk = f"Disk: {p.admission.disk.used_ratio:.0%} used"
        lines.append(f"{disk} — {e(p.admission.reason)}" if p.admission.reason else disk)
    for i in p.incidents:
        lines.append(f"Incident {i.id}: {i.backend} {i.failure_class}, {i.count} times: "
                     f"{e(truncate(one_line(i.sample_error or ''), 60))}")
    healed = {k: v for k, v in p.heals.items() if v}
    if healed:
        lines.append("Self-heal: " + ", ".join(f"{v} {k.replace('_', ' ')}"
                                               for k, v in sorted(healed.items())))
    if p.breakers:
        lines.append("Models resting: " + ", ".join(f"{e(b.target)} ({b.phase})"
                                                    for b in p.breakers))
    if p.spend_today_usd is not None and p.spend_today_usd > 0:
        lines.append(f"Model spend today: ${p.spend_today_usd:.2f}")
    if p.rates is not None:
        lines.append(notify_rate_line(p.rates.today, p.rates.week))
    if p.missed:
        lines.append("Routines missed in 24 h: " + ", ".join(
            f"{e(name)} {n}" for name, n in sorted(p.missed.items())) + " (/rhythms)")
    if p.last_backup_at is not None:
        lines.append(f"Last backup: {duration(max(p.now - p.last_backup_at, 0.0))} ago")
    return lines
