"""Rendering: relative times, durations, tables that fit 80 columns, job details, JSON rows."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bot import render
from engine.model import (
    Attempt,
    AttemptOutcome,
    BackendName,
    FailureClass,
    Job,
    JobState,
    Origin,
    Trust,
)
from engine.store.records import ParentRow

NOW = 1_700_000_000.0

JOB = Job(
    id=7, backend=BackendName.SHELL, state=JobState.READY, payload={"command": "echo hi"},
    priority=2, origin=Origin.OWNER, trust=Trust.COMMAND, idempotency_key=None, not_before=NOW,
    max_attempts=4, attempts=0, recoveries=0, timeout_s=None, output_schema=None, name=None,
    reply_to=None, worker=None, result=None, error=None, failure_class=None,
    created_at=NOW - 5, ready_at=NOW - 5, started_at=None, finished_at=None,
    cancel_requested=False, pending_deps=0, idx=None)


def job(**changes: object) -> Job:
    return dataclasses.replace(JOB, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(("t", "expected"), [
    (None, "-"),
    (NOW, "just now"),
    (NOW - 0.4, "just now"),
    (NOW - 3, "3 s ago"),
    (NOW - 59.9, "59 s ago"),
    (NOW - 60, "1 min ago"),
    (NOW - 150, "2 min ago"),
    (NOW - 3 * 3600 - 1, "3 h ago"),
    (NOW - 2 * 86400, "2 d ago"),
    (NOW + 120, "in 2 min"),
    (NOW + 5, "in 5 s"),
])
def test_relative(t: float | None, expected: str) -> None:
    assert render.relative(t, NOW) == expected


@pytest.mark.parametrize(("seconds", "expected"), [
    (0.25, "250 ms"), (4.24, "4.2 s"), (185, "3 min 5 s"), (7800, "2 h 10 min"),
])
def test_duration(seconds: float, expected: str) -> None:
    assert render.duration(seconds) == expected


@pytest.mark.parametrize(("text", "width", "expected"), [
    ("short", 10, "short"),
    ("exactly10!", 10, "exactly10!"),
    ("much too long", 8, "much to…"),
    ("x", 0, ""),
])
def test_truncate(text: str, width: int, expected: str) -> None:
    assert render.truncate(text, width) == expected


def test_table_aligns_columns_and_right_aligns_numbers() -> None:
    text = render.table(["ID", "NAME"], [["1", "alpha"], ["100", "b"]])
    assert text.splitlines() == [" ID  NAME", "  1  alpha", "100  b"]


def test_table_fits_the_width_and_marks_cuts() -> None:
    rows = [["1", "ready", "x" * 200], ["2", "done", "one\nline"]]
    lines = render.table(["ID", "STATE", "WHAT"], rows, width=40).splitlines()
    assert all(len(line) <= 40 for line in lines)
    assert lines[1].endswith("…")
    assert lines[2].endswith("one line")


def test_table_with_no_rows_is_its_header() -> None:
    assert render.table(["A", "B"], []) == "A  B"


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, "echo hi"),
    ({"name": "nightly backup"}, "nightly backup"),
    ({"backend": BackendName.SKILL, "payload": {"skill": "echo", "args": {"a": 1}}},
     'echo {"a":1}'),
    ({"backend": BackendName.LLM, "payload": {"prompt": "hi"}}, '{"prompt":"hi"}'),
])
def test_summary(changes: dict[str, object], expected: str) -> None:
    assert render.summary(job(**changes)) == expected


def test_jobs_table_fits_80_columns() -> None:
    jobs = [job(id=n, payload={"command": "echo " + "word " * 40}) for n in (1, 22, 333)]
    text = render.jobs_table(jobs, NOW)
    lines = text.splitlines()
    assert lines[0].split() == ["ID", "STATE", "P", "BACKEND", "WHAT", "CREATED", "TRIES"]
    assert len(lines) == 4
    assert all(len(line) <= 80 for line in lines)
    assert "…" in lines[1]
    assert "5 s ago" in lines[1]
    assert lines[1].endswith("0/4")


def test_empty_listings_say_so() -> None:
    assert render.jobs_table([], NOW) == "no jobs"


def test_job_detail_shows_fields_dependencies_and_attempts() -> None:
    failed = job(state=JobState.FAILED, attempts=1, error="exit 3\nboom",
                 failure_class=FailureClass.OTHER, started_at=NOW - 4, finished_at=NOW - 2)
    attempt = Attempt(7, 1, NOW - 4, NOW - 2, AttemptOutcome.FAILED, FailureClass.OTHER,
                      "exit 3", None, "run1")
    parent = ParentRow(3, 0, "page", JobState.DONE, {"x": 1}, None, NOW - 6)
    text = render.job_detail(failed, [attempt], [parent], [job(id=9)], NOW)
    assert text.startswith("job 7  failed\n")
    assert "  finished   2 s ago (ran 2.0 s)" in text
    assert "  error      exit 3 boom [other]" in text
    assert "  needs      job 3 'page' (done)" in text
    assert "  needed by  job 9 (ready)" in text
    assert "#  OUTCOME  FAILURE  STARTED  TOOK   ERROR" in text


def test_job_detail_cuts_huge_results() -> None:
    text = render.job_detail(job(state=JobState.DONE, result="y" * 5000), [], [], [], NOW)
    assert "more characters; use --json" in text
    assert len(text) < 3000


@pytest.mark.parametrize(("changes", "expected"), [
    ({"state": JobState.DONE, "result": {"ok": True}}, 'job 7 done: {"ok":true}'),
    ({"state": JobState.DONE}, "job 7 done"),
    ({"state": JobState.FAILED, "error": "exit 3"}, "job 7 failed: exit 3"),
])
def test_outcome(changes: dict[str, object], expected: str) -> None:
    assert render.outcome(job(**changes)) == expected


def test_json_rows_are_plain_json() -> None:
    parent = ParentRow(3, 0, None, JobState.DONE, None, None, NOW)
    data = render.job_detail_json(job(), [], [parent], [job(id=9)])
    back = json.loads(json.dumps(data))
    assert back["id"] == 7
    assert back["state"] == "ready"
    assert back["backend"] == "shell"
    assert back["needs"] == [{"job_id": 3, "name": None, "state": "done"}]
    assert back["needed_by"] == [9]
    assert back["attempt_history"] == []



def test_checks_align() -> None:
    text = render.checks([render.Check("settings", "ok", "valid"),
                          render.Check("database", "fail", "damaged")])
    assert text.splitlines() == ["ok    settings  valid", "fail  database  damaged"]


def test_status_line_counts_what_changed() -> None:
    before = {JobState.DONE: 4, JobState.READY: 2}
    after = {JobState.DONE: 7, JobState.FAILED: 1, JobState.RUNNING: 2, JobState.WAITING: 5}
    assert render.status_line(before, after) == (
        "status: 3 done, 1 failed, 0 cancelled since the last line; "
        "2 running, 0 ready, 5 waiting")


def test_pipeline_queued() -> None:
    text = render.pipeline_queued({"fetch": 4, "summary": 5}, "summary")
    assert text.splitlines()[0] == "pipeline queued: 2 jobs; the answer is job 5"
    assert text.splitlines()[-1] == "summary    5  answer"
