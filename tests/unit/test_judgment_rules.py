"""The pure judgment rules: requests, triage, failures, results, hints, gate answers, rates."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.model import FailureClass, JobState, Origin
from engine.rules import judgment as j
from engine.rules.judgment import Call, Decision, Ended, Hints, Kind, Verdict


@pytest.mark.parametrize(("origin", "reply_to", "key", "expected"), [
    (Origin.OWNER, None, None, True),
    (Origin.RHYTHM, "telegram:42", None, True),
    (Origin.SYSTEM, None, "req:telegram:42:7", True),
    (Origin.RHYTHM, None, "rhythm:health:1", False),
    (Origin.PIPELINE, "", None, False),
    (Origin.SYSTEM, None, None, False),
])
def test_owner_requests(origin: Origin, reply_to: str | None, key: str | None,
                        expected: bool) -> None:
    assert j.is_request(origin, reply_to, key) is expected


def test_gate_keys_round_trip() -> None:
    assert j.gate_key(41) == "judge:41"
    assert j.is_gate_job("judge:41")
    assert j.gate_target("judge:41") == 41
    assert j.gate_target("judge:x") is None
    assert j.gate_target("req:judge:41") is None
    assert not j.is_gate_job(None)


@pytest.mark.parametrize(("ended", "expected"), [
    (Ended(JobState.CANCELLED), Call(Verdict.SILENT, "cancelled", Kind.INTERNAL)),
    (Ended(JobState.CANCELLED, FailureClass.DEPENDENCY),
     Call(Verdict.SILENT, "not run: a job it needs ended badly", Kind.INTERNAL)),
    (Ended(JobState.FAILED, FailureClass.DEPENDENCY),
     Call(Verdict.SILENT, "ended because a job it needs failed; that failure is judged on its "
                          "own", Kind.INTERNAL)),
    (Ended(JobState.DONE, step=True),
     Call(Verdict.SILENT, "a step whose result feeds the jobs after it", Kind.INTERNAL)),
    (Ended(JobState.FAILED, FailureClass.OTHER, step=True), None),
    (Ended(JobState.DEAD, FailureClass.CRASH), None),
    (Ended(JobState.DONE), None),
])
def test_triage_without_history(ended: Ended, expected: Call | None) -> None:
    assert j.triage(ended) == expected


def test_a_failure_notifies_once_and_repeats_go_to_the_digest() -> None:
    assert j.judge_failure(repeated=False) == Call(Verdict.NOTIFY, "failed for good")
    assert j.judge_failure(repeated=True).verdict is Verdict.DIGEST


def test_failure_signatures_ignore_numbers_and_spacing() -> None:
    a = j.failure_signature("backup", FailureClass.OTHER, "disk error 42 at  10:31")
    b = j.failure_signature("backup", FailureClass.OTHER, "Disk error 7 at 11:02")
    assert a == b
    assert a != j.failure_signature("backup", FailureClass.TIMEOUT, "disk error 42 at 10:31")
    assert a != j.failure_signature("scan", FailureClass.OTHER, "disk error 42 at 10:31")
    assert j.failure_signature(None, None, None) == j.failure_signature(None, None, "")


FP = "fp-1"
DECISION = Decision("Renew the domain?", (("yes", "Yes"), ("no", "No")))


@pytest.mark.parametrize(("hints", "previous", "verdict", "reason"), [
    (Hints(changed=False, urgent=True), None, Verdict.SILENT, "the result says nothing changed"),
    (Hints(importance=0.9), FP, Verdict.SILENT, "unchanged since the previous run"),
    (Hints(importance=0.9, changed=True), FP, Verdict.NOTIFY, "importance 0.9 ≥ 0.8"),
    (Hints(decision=DECISION), None, Verdict.DECIDE, "asks for a decision"),
    (Hints(decision_problem="the decision has no question"), None, Verdict.DIGEST,
     "asked for a decision it could not phrase: the decision has no question"),
    (Hints(urgent=True, importance=0.0), None, Verdict.NOTIFY, "marked urgent"),
    (Hints(), "other", Verdict.PENDING, "no hint decides it: asking the model gate"),
    (Hints(importance=0.8), None, Verdict.NOTIFY, "importance 0.8 ≥ 0.8"),
    (Hints(importance=0.5), None, Verdict.DIGEST, "importance 0.5 below 0.8"),
    (Hints(importance=0.3), None, Verdict.DIGEST, "importance 0.3 below 0.8"),
    (Hints(importance=0.29), None, Verdict.SILENT, "importance 0.29 below 0.3"),
])
def test_results_pass_the_cheap_filters_in_order(hints: Hints, previous: str | None,
                                                 verdict: Verdict, reason: str) -> None:
    call = j.judge_result(hints, FP, previous)
    assert (call.verdict, call.reason, call.kind) == (verdict, reason, Kind.RESULT)


@pytest.mark.parametrize(("verdict", "reaches"), [
    (Verdict.NOTIFY, True), (Verdict.DECIDE, True), (Verdict.PENDING, True),
    (Verdict.DIGEST, False), (Verdict.SILENT, False),
])
def test_only_what_reaches_the_owner_is_checked_for_duplicates(verdict: Verdict,
                                                                reaches: bool) -> None:
    assert j.reaches_owner(Call(verdict, "x")) is reaches


def test_hints_are_read_leniently() -> None:
    assert j.read_hints("plain text") == j.NO_HINTS
    assert j.read_hints([1, 2]) == j.NO_HINTS
    h = j.read_hints({"importance": 3, "changed": True, "urgent": True, "summary": "  Disk full ",
                      "fingerprint": "abc"})
    assert h == Hints(importance=1.0, changed=True, urgent=True, summary="Disk full",
                      fingerprint="abc")
    wrong = j.read_hints({"importance": "high", "changed": "yes", "urgent": 1, "summary": " ",
                          "fingerprint": ""})
    assert wrong == j.NO_HINTS
    assert j.read_hints({"importance": True}).importance is None
    assert j.read_hints({"importance": -2}).importance == 0.0


def test_a_decision_defaults_to_yes_or_no_and_inherits_urgency() -> None:
    h = j.read_hints({"urgent": True, "decision": {"question": " Renew? "}})
    assert h.decision == Decision("Renew?", (("yes", "Yes"), ("no", "No")), urgent=True)
    d, problem = j.read_decision({"question": "Which?", "urgent": True, "expires_in_s": 60,
                                  "choices": [{"key": "a", "label": "Plan A"}, {"key": "b"}]})
    assert problem is None
    assert d == Decision("Which?", (("a", "Plan A"), ("b", "b")), True, 60.0)
    assert j.read_decision({"question": "Q", "expires_in_s": -1})[0] == Decision(
        "Q", (("yes", "Yes"), ("no", "No")))


@pytest.mark.parametrize(("value", "problem"), [
    ("renew?", "the decision must be an object"),
    ({"question": "  "}, "the decision has no question"),
    ({"question": "Q", "choices": []}, "choices must be"),
    ({"question": "Q", "choices": ["Yes please"]}, "choices must be"),
    ({"question": "Q", "choices": ["a", "a"]}, "choices must be"),
    ({"question": "Q", "choices": [{"label": "no key"}]}, "choices must be"),
    ({"question": "Q", "choices": [3]}, "choices must be"),
    ({"question": "Q", "choices": [str(i) for i in range(9)]}, "choices must be"),
])
def test_a_decision_the_contract_refuses_says_why(value: object, problem: str) -> None:
    decision, why = j.read_decision(value)
    assert decision is None
    assert why is not None
    assert why.startswith(problem)
    assert j.read_hints({"decision": value}).decision_problem == why


def test_fingerprints_prefer_the_hint() -> None:
    assert j.fingerprint('{"a": 1}', Hints(fingerprint="mine")) == "mine"
    assert j.fingerprint('{"a": 1}', Hints()) == j.fingerprint('{"a": 1}', Hints())
    assert j.fingerprint('{"a": 1}', Hints()) != j.fingerprint('{"a": 2}', Hints())


def test_report_keys_ignore_case_and_spacing() -> None:
    assert j.report_key("Disk  91% full\n") == j.report_key("disk 91% full")
    assert j.report_key("disk 91% full") != j.report_key("disk 92% full")


@pytest.mark.parametrize(("state", "result", "error", "hints", "text"), [
    (JobState.DONE, {"x": 1}, None, Hints(decision=DECISION), "Renew the domain?"),
    (JobState.DONE, {"x": 1}, None, Hints(summary="3 new mails"), "3 new mails"),
    (JobState.FAILED, None, "disk error", Hints(), "backup failed: disk error"),
    (JobState.DEAD, None, None, Hints(), "backup dead: no reason given"),
    (JobState.DONE, "  plain answer ", None, Hints(), "plain answer"),
    (JobState.DONE, {"text": "the text"}, None, Hints(), "the text"),
    (JobState.DONE, {"rows": [1, 2]}, None, Hints(), "backup finished; /job 9 shows the result."),
])
def test_the_summary_the_owner_reads(state: JobState, result: object, error: str | None,
                                     hints: Hints, text: str) -> None:
    assert j.summary_text("backup", 9, state, result, error, hints) == text


def test_a_long_summary_is_cut() -> None:
    text = j.summary_text("x", 1, JobState.DONE, "a" * 5000, None, Hints())
    assert len(text) == j.SUMMARY_CHARS
    assert text.endswith("…")


@pytest.mark.parametrize(("reply", "expected"), [
    ('{"notify": true, "reason": "the disk is full"}', j.GateAnswer(True, "the disk is full")),
    ('```json\n{"notify": false, "reason": "routine"}\n```', j.GateAnswer(False, "routine")),
    ('{"notify": false, "reason": "  "}', j.GateAnswer(False, "no reason given")),
    ("notify", None),
    ('{"notify": "yes", "reason": "x"}', None),
    ('{"notify": true}', None),
    ('{"notify": true, "reason": "x", "extra": 1}', None),
    ('{"notify": true, "reason": 3}', None),
    ('[true, "x"]', None),
    ("", None),
])
def test_the_gate_answer_is_strict_json(reply: str, expected: j.GateAnswer | None) -> None:
    assert j.parse_gate(reply) == expected


def test_the_notify_rate() -> None:
    assert j.NotifyRate(0, 0, 0).rate is None
    assert j.NotifyRate(3, 1, 100).rate == 0.03


def test_the_day_starts_at_local_midnight() -> None:
    zone = ZoneInfo("Europe/Berlin")
    now = datetime(2024, 7, 1, 1, 30, tzinfo=zone).timestamp()
    assert j.day_start(now, zone) == datetime(2024, 7, 1, tzinfo=zone).timestamp()
    assert j.day_start(now, UTC) == datetime(2024, 6, 30, tzinfo=UTC).timestamp()
    assert j.week_start(now) == now - 7 * 86_400
