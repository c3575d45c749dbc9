"""Pure judgment rules: is a finished job silent, digest, notify or decide, and why.

A background result may carry hints for the judge (the *result contract*); every key is
optional, and a value of the wrong type is ignored as if absent::

    {"importance": 0.0-1.0,    # >= 0.8 notify, >= 0.3 digest, below that silent
     "changed": bool,          # false: nothing new, silent; true: skip the unchanged check
     "urgent": bool,           # notify (through quiet hours); a decision card shown at night
     "decision": {"question": str, "choices": [{"key", "label"}] or ["yes", "no"],
                  "urgent": bool, "expires_in_s": number},   # open a decision card
     "summary": str,           # the line the owner reads (notice, digest or card)
     "fingerprint": str}       # what identifies the content; default: the whole result

A result without ``importance``, ``urgent`` or ``decision`` that changed is undecided: the cheap
model gate is asked, and anything but a clear "notify" from it is a digest.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

from engine.model import JSON, FailureClass, JobState, Origin
from engine.rules.cards import valid_choice
from engine.rules.replies import json_object

REQUEST_KEY_PREFIX = "req:"
"""Idempotency keys of jobs born from one of the owner's messages (``req:telegram:42:7``)."""
GATE_KEY_PREFIX = "judge:"
"""Idempotency keys of the model gate's jobs: ``judge:<job id>``, at most one per job."""
GATE_SKILL = "judge"

NOTIFY_AT = 0.8
DIGEST_AT = 0.3
REPEAT_WINDOW_S = 86_400.0
"""A failure with the signature of one judged this recently goes to the digest."""
DUPLICATE_WINDOW_S = 86_400.0
"""A report with the same text as one sent this recently is not sent again."""
SUMMARY_CHARS = 600
DAY_S = 86_400.0
WEEK_S = 7 * DAY_S

GATE_KEYS = frozenset({"notify", "reason"})
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


class Verdict(StrEnum):
    SILENT = "silent"
    DIGEST = "digest"
    NOTIFY = "notify"
    DECIDE = "decide"
    PENDING = "pending"
    """Undecided by the rules: the model gate's job will settle it (digest unless it notifies)."""


class Kind(StrEnum):
    REQUEST = "request"
    """The owner asked: always answered."""
    RESULT = "result"
    """A background result: what the notify rate counts."""
    INTERNAL = "internal"
    """A step feeding later jobs, a cancellation, a consequence, the gate's own job."""


@dataclass(frozen=True, slots=True)
class Call:
    """A classification and the reason it gives."""

    verdict: Verdict
    reason: str
    kind: Kind = Kind.RESULT


@dataclass(frozen=True, slots=True)
class Decision:
    question: str
    choices: tuple[tuple[str, str], ...]
    urgent: bool = False
    expires_in_s: float | None = None


@dataclass(frozen=True, slots=True)
class Hints:
    """What a result says about itself (see the module docstring)."""

    importance: float | None = None
    changed: bool | None = None
    urgent: bool = False
    decision: Decision | None = None
    decision_problem: str | None = None
    summary: str | None = None
    fingerprint: str | None = None


NO_HINTS = Hints()


@dataclass(frozen=True, slots=True)
class Ended:
    """How a background job ended, as far as the rules need it."""

    state: JobState
    failure: FailureClass | None = None
    step: bool = False
    """Other jobs depend on it: its result feeds them rather than the owner."""


def is_request(origin: Origin, reply_to: str | None, key: str | None) -> bool:
    """The owner asked for this job: by origin, a reply address, or a request key."""
    return origin is Origin.OWNER or bool(reply_to) or (key or "").startswith(
        REQUEST_KEY_PREFIX)


def is_gate_job(key: str | None) -> bool:
    return (key or "").startswith(GATE_KEY_PREFIX)


def gate_key(job_id: int) -> str:
    return f"{GATE_KEY_PREFIX}{job_id}"


def gate_target(key: str | None) -> int | None:
    """The job a gate job judges, from its key."""
    tail = (key or "").removeprefix(GATE_KEY_PREFIX)
    return int(tail) if is_gate_job(key) and tail.isdigit() else None


def triage(e: Ended) -> Call | None:
    """What can be said of a background job without its history; None when history decides."""
    if e.state is JobState.CANCELLED:
        why = ("not run: a job it needs ended badly" if e.failure is FailureClass.DEPENDENCY
               else "cancelled")
        return Call(Verdict.SILENT, why, Kind.INTERNAL)
    if e.state in (JobState.FAILED, JobState.DEAD):
        if e.failure is FailureClass.DEPENDENCY:
            return Call(Verdict.SILENT, "ended because a job it needs failed; that failure "
                        "is judged on its own", Kind.INTERNAL)
        return None
    if e.step:
        return Call(Verdict.SILENT, "a step whose result feeds the jobs after it", Kind.INTERNAL)
    return None


def judge_failure(repeated: bool) -> Call:
    """A background job that failed for good: the owner hears once, repeats go to the digest."""
    if repeated:
        return Call(Verdict.DIGEST, "the same failure as one in the last 24 h")
    return Call(Verdict.NOTIFY, "failed for good")


def judge_result(h: Hints, fingerprint: str, previous: str | None) -> Call:
    """A finished background result: the cheap filters, in order (``previous`` is the
    fingerprint of the last result of the same name); PENDING asks the gate. A call that
    would reach the owner then meets ``DUPLICATE`` if the same report went out lately."""
    if h.changed is False:
        return Call(Verdict.SILENT, "the result says nothing changed")
    if h.changed is None and previous == fingerprint:
        return Call(Verdict.SILENT, "unchanged since the previous run")
    return _by_hints(h)


DUPLICATE = Call(Verdict.SILENT, "the same report went out in the last 24 h")


def reaches_owner(call: Call) -> bool:
    """A notice, a card, or maybe one (the gate's): what a duplicate report must not repeat."""
    return call.verdict in (Verdict.NOTIFY, Verdict.DECIDE, Verdict.PENDING)


def _by_hints(h: Hints) -> Call:
    if h.decision is not None:
        return Call(Verdict.DECIDE, "asks for a decision")
    if h.decision_problem is not None:
        return Call(Verdict.DIGEST, f"asked for a decision it could not phrase: "
                                    f"{h.decision_problem}")
    if h.urgent:
        return Call(Verdict.NOTIFY, "marked urgent")
    if h.importance is None:
        return Call(Verdict.PENDING, "no hint decides it: asking the model gate")
    if h.importance >= NOTIFY_AT:
        return Call(Verdict.NOTIFY, f"importance {h.importance:g} ≥ {NOTIFY_AT:g}")
    if h.importance >= DIGEST_AT:
        return Call(Verdict.DIGEST, f"importance {h.importance:g} below {NOTIFY_AT:g}")
    return Call(Verdict.SILENT, f"importance {h.importance:g} below {DIGEST_AT:g}")


def read_hints(result: JSON) -> Hints:
    """The hints a result carries; anything not a dict carries none."""
    if not isinstance(result, dict):
        return NO_HINTS
    importance = result.get("importance")
    changed = result.get("changed")
    summary = result.get("summary")
    fingerprint = result.get("fingerprint")
    decision, problem = read_decision(result.get("decision"), result.get("urgent") is True)
    return Hints(
        importance=(min(max(float(importance), 0.0), 1.0)
                    if isinstance(importance, int | float) and not isinstance(importance, bool)
                    else None),
        changed=changed if isinstance(changed, bool) else None,
        urgent=result.get("urgent") is True,
        decision=decision, decision_problem=problem,
        summary=(summary.strip() or None) if isinstance(summary, str) else None,
        fingerprint=fingerprint if isinstance(fingerprint, str) and fingerprint else None)


def read_decision(value: JSON, urgent: bool = False) -> tuple[Decision | None, str | None]:
    """(decision, None), or (None, the problem), or (None, None) when none was asked."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        return None, "the decision must be an object"
    question = value.get("question")
    if not isinstance(question, str) or not question.strip():
        return None, "the decision has no question"
    choices = _choices(value.get("choices", ["yes", "no"]))
    if choices is None:
        return None, "choices must be 1-8 keys of 1-16 [a-z0-9_-], or {key, label} objects"
    expires = value.get("expires_in_s")
    return Decision(
        question.strip(), choices, urgent or value.get("urgent") is True,
        float(expires) if isinstance(expires, int | float) and not isinstance(expires, bool)
        and expires > 0 else None), None


def _choices(value: JSON) -> tuple[tuple[str, str], ...] | None:
    if not isinstance(value, list) or not 1 <= len(value) <= 8:
        return None
    found: list[tuple[str, str]] = []
    for c in value:
        key, label = (c, c.capitalize()) if isinstance(c, str) else (
            (c.get("key"), c.get("label") or c.get("key")) if isinstance(c, dict) else (None, None))
        if not isinstance(key, str) or not valid_choice(key) or not isinstance(label, str):
            return None
        found.append((key, label[:64]))
    return tuple(found) if len({k for k, _ in found}) == len(found) else None


def fingerprint(result_text: str, h: Hints) -> str:
    """What identifies a result's content: its own fingerprint hint, else a hash of it all."""
    return h.fingerprint or _hash(result_text)


def failure_signature(name: str | None, failure: FailureClass | None, error: str | None) -> str:
    """The same job failing the same way: numbers (ids, counts, times) do not count."""
    shape = _SPACE.sub(" ", _DIGITS.sub("#", (error or "").lower()))[:200].strip()
    return _hash(f"{name or ''}|{failure.value if failure else ''}|{shape}")


def report_key(text: str) -> str:
    """What makes two reports the same: their text, whitespace and case aside."""
    return _hash(_SPACE.sub(" ", text.lower()).strip())


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def summary_text(label: str, job_id: int, state: JobState, result: JSON, error: str | None,
                 h: Hints) -> str:
    """The line the owner reads about a background result."""
    if h.decision is not None:
        text = h.decision.question
    elif h.summary:
        text = h.summary
    elif state is not JobState.DONE:
        text = f"{label} {state.value}: {error or 'no reason given'}"
    elif isinstance(result, str) and result.strip():
        text = result.strip()
    elif isinstance(result, dict) and isinstance(result.get("text"), str) and result["text"]:
        text = str(result["text"]).strip()
    else:
        text = f"{label} finished; /job {job_id} shows the result."
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class GateAnswer:
    notify: bool
    reason: str


def parse_gate(text: str) -> GateAnswer | None:
    """The gate's answer from a reply that is exactly ``{"notify": bool, "reason": str}`` (a
    Markdown code fence around it is tolerated); None for anything else."""
    data = json_object(text, GATE_KEYS)
    if data is None:
        return None
    if not isinstance(data["notify"], bool) or not isinstance(data["reason"], str):
        return None
    return GateAnswer(data["notify"], data["reason"].strip()[:200] or "no reason given")


@dataclass(frozen=True, slots=True)
class NotifyRate:
    """Background results that notified, of those judged, over a window."""

    notified: int
    decided: int
    results: int

    @property
    def rate(self) -> float | None:
        """notify ÷ results, or None when there were no results."""
        return self.notified / self.results if self.results else None


def day_start(now: float, zone: tzinfo) -> float:
    """Midnight of ``now``'s day in the owner's time zone."""
    local = datetime.fromtimestamp(now, zone)
    midnight = datetime.combine(local.date(), datetime.min.time(), tzinfo=zone)
    return midnight.timestamp()


def week_start(now: float) -> float:
    return now - WEEK_S
