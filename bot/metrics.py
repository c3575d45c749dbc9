"""Health and metrics as pure values: a snapshot, its health verdict, its Prometheus text."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.repo import OutboxCounts
from bot.status_view import LATENCY_BUCKETS_S, OpsFigures
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
    ops: Callable[[], OpsFigures | None] = lambda: None
    """Work, models, disk and incidents (``status_view.OpsCollector.figures``)."""

    def snapshot(self) -> Snapshot:
        return Snapshot(dict(self.jobs()), self.tick_age_s(), self.tick_limit_s, self.outbox(),
                        self.poll_age_s(), self.poll_limit_s, dict(self.dropped()),
                        self.repeats(), self.restarts(), self.ops())


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
    ops: OpsFigures | None = None


def health(s: Snapshot) -> list[str]:
    """What is wrong, one phrase each; empty when healthy."""
    problems = []
    if s.tick_age_s > s.tick_limit_s:
        problems.append(f"the engine loop has not ticked for {s.tick_age_s:.0f} s")
    if s.poll_age_s is not None and s.poll_age_s > s.poll_limit_s:
        problems.append(f"Telegram polling has not answered for {s.poll_age_s:.0f} s")
    return problems


def warnings(s: Snapshot) -> list[str]:
    """What is degraded but still working (health stays 200), one phrase each."""
    if s.ops is not None and s.ops.background_refused and s.ops.disk_used_ratio is not None:
        return [f"disk {s.ops.disk_used_ratio:.0%} full: new background work is refused"]
    return []


def _metric(name: str, kind: str, about: str, samples: list[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {about}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {_number(value)}" for labels, value in samples]
    return lines


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def _labels(**values: str) -> str:
    """``{a="x",b="y"}`` with the exposition format's escapes."""
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in values.items()) + "}"


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
    if s.ops is not None:
        lines += work_series(s.ops) + model_series(s.ops) + host_series(s.ops)
    return "\n".join(lines) + "\n"


def work_series(o: OpsFigures) -> list[str]:
    """Jobs by backend and state, queue age, attempt durations, self-heals, incidents."""
    lines = _metric("steward_jobs_by_backend", "gauge", "Jobs by backend and state.",
                    [(_labels(backend=b, state=st), n) for (b, st), n in sorted(o.jobs.items())])
    lines += _metric("steward_queue_age_seconds", "gauge",
                     "How long the oldest ready job has waited for a slot (0: none waits).",
                     [("", round(o.queue_age_s, 3))])
    lines += [
        "# HELP steward_job_attempt_seconds How long attempts ran, by backend and outcome "
        "(since the process started).",
        "# TYPE steward_job_attempt_seconds histogram"]
    for (backend, outcome), h in sorted(o.latency.items()):
        bounds = [*(_number(b) for b in LATENCY_BUCKETS_S), "+Inf"]
        lines += [f"steward_job_attempt_seconds_bucket"
                  f"{_labels(backend=backend, outcome=outcome, le=le)} {n}"
                  for le, n in zip(bounds, h.counts, strict=True)]
        base = _labels(backend=backend, outcome=outcome)
        lines += [f"steward_job_attempt_seconds_sum{base} {_number(round(h.total_s, 6))}",
                  f"steward_job_attempt_seconds_count{base} {h.counts[-1]}"]
    lines += _metric("steward_selfheal_jobs", "gauge", "Self-heals by state.",
                     [(_labels(state=k), n) for k, n in sorted(o.heals.items())])
    lines += _metric("steward_incidents_open", "gauge",
                     "Recurring failures waiting for the owner's acknowledgement.",
                     [("", o.incidents_open)])
    return lines


def model_series(o: OpsFigures) -> list[str]:
    """Model calls, tokens and cost (totals from the gateway's records), breaker states."""
    lines = _metric("steward_model_calls_total", "counter", "Model calls by outcome.",
                    [(_labels(provider=m.provider, model=m.model, outcome=m.outcome), m.calls)
                     for m in o.models])
    tokens: dict[tuple[str, str, str], int] = {}
    cost: dict[tuple[str, str], float] = {}
    for m in o.models:
        for kind, n in (("input", m.input_tokens), ("output", m.output_tokens),
                        ("cached", m.cached_tokens)):
            key = (m.provider, m.model, kind)
            tokens[key] = tokens.get(key, 0) + n
        cost[(m.provider, m.model)] = cost.get((m.provider, m.model), 0.0) + m.cost_usd
    lines += _metric("steward_model_tokens_total", "counter",
                     "Tokens by kind (input includes cached).",
                     [(_labels(provider=p, model=m, kind=k), n)
                      for (p, m, k), n in sorted(tokens.items())])
    lines += _metric("steward_model_cost_usd_total", "counter", "Model spend in USD.",
                     [(_labels(provider=p, model=m), round(c, 6))
                      for (p, m), c in sorted(cost.items())])
    lines += _metric("steward_model_breaker_state", "gauge",
                     "Circuit breaker of each model: 1 for its current phase.",
                     [(_labels(target=b.target, phase=phase), int(b.phase == phase))
                      for b in o.breakers for phase in ("closed", "open", "half_open")])
    return lines


def host_series(o: OpsFigures) -> list[str]:
    """Disk, database size, admission, and the judgment layer's notify rate."""
    lines = _metric("steward_database_bytes", "gauge", "steward.db and its WAL on disk.",
                    [("", o.database_bytes)])
    lines += _metric("steward_admission_refusing", "gauge",
                     "1 while new background work is refused (the disk is nearly full).",
                     [("", int(o.background_refused))])
    if o.disk_used_ratio is not None:
        lines += _metric("steward_disk_used_ratio", "gauge",
                         "Share of the data dir's filesystem in use.",
                         [("", round(o.disk_used_ratio, 4))])
    if o.notify_rate is not None:
        lines += _metric("steward_notify_rate", "gauge",
                         "Share of background results that notified, over the last 7 days.",
                         [("", round(o.notify_rate, 4))])
    return lines
