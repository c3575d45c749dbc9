"""The judgment layer: every finished job is classified silent, digest, notify or decide.

``judge`` and ``judge_done`` run inside the resolver's transaction, so a verdict, the notice it
sends (an outbox row) and the card it opens commit with the state change that caused them.
Owner requests are answered by the resolver's own outbox row; background results pass the
cheap filters of ``engine.rules.judgment``, and what those leave undecided waits ("pending")
for the model gate's job (``engine.judgment_gate``), which settles it exactly once. The rules
say what the result contract is; ``Judgments`` reads the digest and the notify rate.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo

from engine import cards
from engine.model import JSON, BackendName, FailureClass, Job, JobSpec, JobState, Origin
from engine.rules import judgment as rules
from engine.rules.judgment import (
    Call,
    Ended,
    Hints,
    Kind,
    NotifyRate,
    Verdict,
)
from engine.store.base import Store

log = logging.getLogger("steward.judgment")

Enqueue = Callable[[JobSpec], bool]
"""Inserts a job in the current transaction; True when it was created (not found by key)."""

NOTICE_TOPIC = "notice"
GATE_PRIORITY = 4
GATE_TIMEOUT_S = 120.0
GATE_PER_HOUR = 20
"""At most this many model-gate calls an hour: a burst of undecided results beyond it goes
straight to the digest, so background work can neither run up costs nor crowd the owner's own
calls off a rate-limited provider."""
HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class Finish:
    """A job reaching a terminal state, as the resolver writes it."""

    job: Job
    state: JobState
    result: JSON = None
    text: str | None = None
    """The result as JSON text, when the caller has it already."""
    error: str | None = None
    failure: FailureClass | None = None


def judge_done(store: Store, done: list[tuple[Job, JSON, str]], now: float,
               enqueue: Enqueue) -> None:
    """Judge many successes (the loop's hot path): owner requests in one bulk insert."""
    requests: list[tuple[int, str | None, float]] = []
    background = [Finish(job, JobState.DONE, result, text) for job, result, text in done
                  if not _request(job, now, requests)]
    _judge(store, requests, background, now, enqueue)


def judge(store: Store, finishes: list[Finish], now: float, enqueue: Enqueue) -> None:
    """Judge jobs that ended any way (failed, cancelled, dead, a group done)."""
    requests: list[tuple[int, str | None, float]] = []
    background = [f for f in finishes if not _request(f.job, now, requests)]
    _judge(store, requests, background, now, enqueue)


def _request(job: Job, now: float, requests: list[tuple[int, str | None, float]]) -> bool:
    """An owner request is answered by the resolver's own outbox row: "notify (owner
    request)" is only recorded."""
    if not rules.is_request(job.origin, job.reply_to, job.idempotency_key):
        return False
    requests.append((job.id, job.name, now))
    return True


def _judge(store: Store, requests: list[tuple[int, str | None, float]],
           background: list[Finish], now: float, enqueue: Enqueue) -> None:
    if requests:
        store.run_many("judgment_record_requests", requests)
        if log.isEnabledFor(logging.DEBUG):  # one line a batch: this is the hot path
            log.debug("jobs %s: notify: owner request", ", ".join(str(r[0]) for r in requests))
    if background:
        rows: list[tuple[object, ...]] = []
        _Pass(store, now, enqueue, rows).judge(background)
        store.run_many("judgment_record", rows)


def gate_spec(job: Job) -> JobSpec:
    """The model gate's job for one undecided result: one per job, by its idempotency key."""
    return JobSpec(BackendName.SKILL, {"skill": rules.GATE_SKILL, "args": {"job_id": job.id}},
                   priority=GATE_PRIORITY, origin=Origin.SYSTEM,
                   idempotency_key=rules.gate_key(job.id), max_attempts=2,
                   timeout_s=GATE_TIMEOUT_S, name=rules.GATE_SKILL)


class _Pass:
    """Judges a batch of background jobs; later jobs of the batch see the earlier ones."""

    def __init__(self, store: Store, now: float, enqueue: Enqueue,
                 rows: list[tuple[object, ...]]) -> None:
        self._store = store
        self._now = now
        self._enqueue = enqueue
        self._rows = rows
        self._names: dict[str, str] = {}
        self._reported: set[str] = set()
        self._signatures: set[str] = set()
        self._gated = 0
        self._asked: int | None = None

    def judge(self, finishes: list[Finish]) -> None:
        steps = self._steps([f.job.id for f in finishes if f.state is JobState.DONE])
        for f in finishes:
            if rules.is_gate_job(f.job.idempotency_key):
                self._gate_ended(f)
                continue
            call = rules.triage(Ended(f.state, f.failure, f.job.id in steps))
            if call is not None:
                self._record(f, call)
            elif f.state is JobState.DONE:
                self._result(f)
            else:
                self._failure(f)
        if self._names:
            self._store.run_many("judgment_name_seen",
                                 [(n, fp, self._now) for n, fp in self._names.items()])

    def _steps(self, ids: list[int]) -> set[int]:
        if not ids:
            return set()
        rows = self._store.run("judgment_steps", {"ids": json.dumps(ids)})
        return {r[0] for r in rows}

    def _gate_ended(self, f: Finish) -> None:
        """The gate's own job ended: whatever it did not settle falls to the digest."""
        target = rules.gate_target(f.job.idempotency_key)
        if target is not None:
            settle(self._store, target, Verdict.DIGEST,
                   f"the model gate gave no verdict ({f.state.value}"
                   f"{': ' + f.error if f.error else ''})", self._now)
        self._record(f, Call(Verdict.SILENT, "the model gate's own job", Kind.INTERNAL))

    def _failure(self, f: Finish) -> None:
        job = f.job
        signature = rules.failure_signature(job.name, f.failure, f.error)
        repeated = signature in self._signatures or bool(self._store.run(
            "judgment_repeated", {"signature": signature, "job_id": job.id,
                                  "since": self._now - rules.REPEAT_WINDOW_S}))
        self._signatures.add(signature)
        summary = rules.summary_text(_label(job), job.id, f.state, None, f.error, rules.NO_HINTS)
        self._act(f, rules.judge_failure(repeated), rules.NO_HINTS, summary, signature)

    def _result(self, f: Finish) -> None:
        job = f.job
        hints = rules.read_hints(f.result)
        text = f.text if f.text is not None else json.dumps(f.result)
        fingerprint = rules.fingerprint(text, hints)
        call = rules.judge_result(hints, fingerprint, self._previous(job.name))
        if job.name:
            self._names[job.name] = fingerprint
        if call.verdict is Verdict.SILENT:  # most results: nothing more to work out
            self._record(f, call, hints.summary)
            return
        summary = rules.summary_text(_label(job), job.id, f.state, f.result, None, hints)
        if rules.reaches_owner(call) and self._was_reported(rules.report_key(summary)):
            call = rules.DUPLICATE
        self._act(f, call, hints, summary)

    def _previous(self, name: str | None) -> str | None:
        if not name:
            return None
        if name in self._names:
            return self._names[name]
        rows = self._store.run("judgment_name_fingerprint", {"name": name})
        return str(rows[0][0]) if rows else None

    def _was_reported(self, report: str) -> bool:
        return report in self._reported or bool(self._store.run(
            "judgment_reported", {"report": report,
                                  "since": self._now - rules.DUPLICATE_WINDOW_S}))

    def _act(self, f: Finish, call: Call, hints: Hints, summary: str,
             signature: str | None = None) -> None:
        """Do what the verdict says (a notice, a card, the gate's job), then record it."""
        job, card_id = f.job, None
        urgent = hints.urgent or (hints.decision is not None and hints.decision.urgent)
        if call.verdict is Verdict.NOTIFY:
            _notice(self._store, job.id, job.name, summary, urgent, call.reason, self._now)
        elif call.verdict is Verdict.DECIDE and hints.decision is not None:
            card_id = _open_card(self._store, job.id, hints.decision, self._now)
        elif call.verdict is Verdict.PENDING:
            call = self._ask_gate(job, call)
        if call.verdict in (Verdict.NOTIFY, Verdict.DECIDE):
            self._reported.add(rules.report_key(summary))
        self._record(f, call, summary, signature, urgent, card_id)

    def _ask_gate(self, job: Job, call: Call) -> Call:
        """Enqueue the gate's job, within its hourly budget; otherwise the digest."""
        if self._asked is None:  # nothing this pass writes changes the count: read it once
            self._asked = int(self._store.run("judgment_gate_asked",
                                              {"since": self._now - HOUR_S})[0][0])
        if self._asked + self._gated >= GATE_PER_HOUR:
            return Call(Verdict.DIGEST, f"the model gate's budget of {GATE_PER_HOUR} an hour "
                                        "is spent")
        if not self._enqueue(gate_spec(job)):
            return Call(Verdict.DIGEST, "judged by the model gate once already")
        self._gated += 1
        return call

    def _record(self, f: Finish, call: Call, summary: str | None = None,
                signature: str | None = None, urgent: bool = False,
                card_id: int | None = None) -> None:
        job = f.job
        report = (rules.report_key(summary) if summary is not None and rules.reaches_owner(call)
                  else None)
        gate_at = self._now if call.verdict is Verdict.PENDING else None
        self._rows.append((job.id, job.name, call.kind.value, call.verdict.value, call.reason,
                           summary, report, signature, int(urgent), card_id, self._now, gate_at))
        log.info("job %d (%s, %s): %s: %s", job.id, job.name or job.backend.value,
                 f.state.value, call.verdict.value, call.reason)


def _label(job: Job) -> str:
    return job.name or f"job {job.id}"


def _notice(store: Store, job_id: int, name: str | None, summary: str, urgent: bool,
            reason: str, now: float) -> None:
    """The owner's notice, to the home address (the notifier holds it in quiet hours unless
    urgent); one per judgment, whoever writes it."""
    store.outbox_add(NOTICE_TOPIC, {"text": summary, "job_id": job_id, "name": name,
                                    "urgent": urgent, "reason": reason},
                     now, job_id=job_id, dedupe_key=f"notice:{job_id}:{now!r}")


def _open_card(store: Store, job_id: int, decision: rules.Decision, now: float) -> int:
    card = cards.Cards(store, lambda: now).open(
        decision.question, [cards.Choice(k, label) for k, label in decision.choices],
        job_id=job_id, urgent=decision.urgent, expires_in_s=decision.expires_in_s)
    return card.id


def settle(store: Store, job_id: int, verdict: Verdict, reason: str, now: float) -> bool:
    """Replace a pending judgment with a final one, exactly once; a notify writes its notice
    in the same transaction. False when it was not pending (settled already)."""
    with store.transaction():
        rows = store.run("judgment_settle", {"job_id": job_id, "verdict": verdict.value,
                                             "reason": reason})
        if not rows:
            return False
        row = rows[0]
        if verdict is Verdict.NOTIFY:
            _notice(store, job_id, row["name"], row["summary"] or f"job {job_id} finished",
                    bool(row["urgent"]), reason, now)
    log.info("job %d (%s): %s: %s", job_id, row["name"] or "unnamed", verdict.value, reason)
    return True


# -- reading judgments -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Judgment:
    job_id: int
    name: str | None
    kind: Kind
    verdict: Verdict
    reason: str
    summary: str | None
    urgent: bool
    card_id: int | None
    judged_at: float


@dataclass(frozen=True, slots=True)
class Rates:
    """The notify rate today (the owner's day) and over the last 7 days."""

    today: NotifyRate
    week: NotifyRate


@dataclass(frozen=True, slots=True)
class Recurring:
    """A failure signature seen again and again: material for an incident."""

    signature: str
    name: str | None
    count: int
    first_at: float
    last_at: float
    last_job_id: int


def _judgment(r: sqlite3.Row) -> Judgment:
    return Judgment(r["job_id"], r["name"], Kind(r["kind"]), Verdict(r["verdict"]), r["reason"],
                    r["summary"], bool(r["urgent"]), r["card_id"], r["judged_at"])


class Judgments:
    """Reads what the judgment layer recorded: one job's verdict, the digest, the notify rate."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def of(self, job_id: int) -> Judgment | None:
        rows = self._store.run("judgment_get", {"job_id": job_id})
        return _judgment(rows[0]) if rows else None

    def recent(self, limit: int = 20) -> list[Judgment]:
        return [_judgment(r) for r in self._store.run("judgment_recent", {"limit": limit})]

    def digest_since(self, since: float) -> list[Judgment]:
        """Digest items judged since ``since``, taken or not (read only)."""
        return [_judgment(r) for r in self._store.run("judgment_digest_since", {"since": since})]

    def take_digest(self) -> list[Judgment]:
        """Every digest item not taken yet, oldest first, marked taken: the briefing's part."""
        with self._store.transaction():
            rows = self._store.run("judgment_take_digest", {"now": self._clock()})
        return sorted((_judgment(r) for r in rows), key=lambda j: (j.judged_at, j.job_id))

    def notify_rate(self, since: float, until: float | None = None) -> NotifyRate:
        """Background results that notified, of those judged in ``[since, until)``."""
        end = self._clock() if until is None else until
        row = self._store.run("judgment_rate", {"since": since, "until": end + 1e-6})[0]
        return NotifyRate(row["notified"], row["decided"], row["results"])

    def notify_rates(self, zone: tzinfo) -> Rates:
        now = self._clock()
        return Rates(self.notify_rate(rules.day_start(now, zone), now),
                     self.notify_rate(rules.week_start(now), now))

    def recurring_failures(self, since: float, min_count: int = 2) -> list[Recurring]:
        rows = self._store.run("judgment_recurring_failures",
                               {"since": since, "min_count": min_count})
        return [Recurring(r["signature"], r["name"], r["count"], r["first_at"], r["last_at"],
                          r["last_job_id"]) for r in rows]

