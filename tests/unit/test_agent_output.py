"""Reading the coding-agent CLIs' output, classifying their errors, building their argv."""

from __future__ import annotations

import json

import pytest

from engine.model import FailureClass
from engine.workers.agent_cli import ClaudeCli, CodexCli, Invocation
from engine.workers.agent_output import (
    Reply,
    classify,
    one_line,
    parse_claude,
    parse_codex,
    retry_after_s,
    session_in_use,
    session_missing,
)

RESULT = {"type": "result", "subtype": "success", "is_error": False, "duration_ms": 1200,
          "num_turns": 3, "result": "Done: added the test.", "session_id": "abc",
          "total_cost_usd": 0.042,
          "usage": {"input_tokens": 10, "cache_creation_input_tokens": 200,
                    "cache_read_input_tokens": 3000, "output_tokens": 150}}
EXPECTED = Reply(text="Done: added the test.", session_id="abc", is_error=False, cost_usd=0.042,
                 input_tokens=3210, cached_tokens=3000, output_tokens=150, turns=3)


@pytest.mark.parametrize("stdout", [
    json.dumps(RESULT),
    json.dumps(RESULT, indent=2),
    "\n".join([json.dumps({"type": "system", "subtype": "init", "session_id": "abc"}),
               json.dumps({"type": "assistant", "message": {"content": []}}),
               json.dumps(RESULT)]),
    json.dumps([{"type": "system", "subtype": "init"}, RESULT]),
    "Warning: update available\n" + json.dumps(RESULT) + "\n{oops\n",
])
def test_claude_result_in_any_shape(stdout: str) -> None:
    assert parse_claude(stdout) == EXPECTED


@pytest.mark.parametrize("stdout", ["", "plain text answer", '{"type": "system"}',
                                    '{"type": "result", "session_id": "x"', "[1, 2]"])
def test_claude_without_a_result_object(stdout: str) -> None:
    assert parse_claude(stdout) is None


@pytest.mark.parametrize("change", [{"is_error": True}, {"subtype": "error_max_turns"}])
def test_claude_errors(change: dict[str, object]) -> None:
    reply = parse_claude(json.dumps({**RESULT, **change}))
    assert reply is not None
    assert reply.is_error


def test_claude_old_cost_field_and_missing_usage() -> None:
    reply = parse_claude(json.dumps({"type": "result", "result": "ok", "cost_usd": 0.5,
                                     "session_id": "s", "usage": "nonsense"}))
    assert reply == Reply("ok", "s", cost_usd=0.5)


def events(*items: dict[str, object]) -> str:
    return "\n".join(json.dumps(i) for i in items)


STARTED = {"type": "thread.started", "thread_id": "th-1"}
MESSAGE = {"type": "item.completed", "item": {"id": "i", "type": "agent_message",
                                              "text": "All done."}}
COMPLETED = {"type": "turn.completed",
             "usage": {"input_tokens": 900, "cached_input_tokens": 400, "output_tokens": 80}}


def test_codex_turn() -> None:
    stdout = events(STARTED, {"type": "turn.started"},
                    {"type": "item.completed", "item": {"id": "r", "type": "reasoning",
                                                        "text": "hmm"}},
                    MESSAGE, COMPLETED)
    assert parse_codex("noise\n" + stdout) == Reply(
        "All done.", "th-1", input_tokens=900, cached_tokens=400, output_tokens=80)


def test_codex_failed_turn() -> None:
    stdout = events(STARTED, {"type": "error", "message": "429 Too Many Requests"},
                    {"type": "turn.failed", "error": {"message": "429 Too Many Requests"}})
    reply = parse_codex(stdout)
    assert reply is not None
    assert reply.is_error
    assert reply.text == "429 Too Many Requests"


def test_a_codex_error_followed_by_a_completed_turn_is_not_a_failure() -> None:
    stdout = events(STARTED, {"type": "error", "message": "Reconnecting... 1/5"}, MESSAGE,
                    COMPLETED)
    reply = parse_codex(stdout)
    assert reply is not None
    assert not reply.is_error
    assert reply.text == "All done."


def test_codex_without_a_completed_turn_is_an_error() -> None:
    reply = parse_codex(events(STARTED, {"type": "turn.started"}))
    assert reply is not None
    assert reply.is_error


@pytest.mark.parametrize("stdout", ["", "not json at all", "[]"])
def test_codex_without_events(stdout: str) -> None:
    assert parse_codex(stdout) is None


@pytest.mark.parametrize(("text", "kind"), [
    ("Claude AI usage limit reached|1753077600", FailureClass.RATE_LIMIT),
    ("You've hit your limit · resets 4pm (Europe/Paris)", FailureClass.RATE_LIMIT),
    ("exceeded retry limit, last status: 429 Too Many Requests", FailureClass.RATE_LIMIT),
    ("Prompt is too long", FailureClass.CONTEXT_LOSS),
    ("context_length_exceeded: input exceeds the context window", FailureClass.CONTEXT_LOSS),
    ('API Error: 529 {"type":"overloaded_error"}', FailureClass.SERVER_ERROR),
    ("unexpected status 503 Service Unavailable", FailureClass.SERVER_ERROR),
    ("Execution error: the tool broke", FailureClass.OTHER),
    ("Invalid API key · Please run /login", FailureClass.OTHER),
])
def test_classify(text: str, kind: FailureClass) -> None:
    assert classify(text) is kind


@pytest.mark.parametrize(("text", "missing"), [
    ("No conversation found with session ID: 1234", True),
    ("Error: thread/resume: no rollout found for thread id th-1", True),
    ("session abc not found", True),
    ("Execution error", False),
    ("no changes were needed", False),
])
def test_session_missing(text: str, missing: bool) -> None:
    assert session_missing(text) is missing


def test_session_in_use_and_reset_time() -> None:
    assert session_in_use("Error: Session ID 1b2c is already in use.")
    assert not session_in_use("Error: Invalid session ID.")
    assert retry_after_s("Claude AI usage limit reached|1753077600", 1_753_077_000.0) == 600.0
    assert retry_after_s("Claude AI usage limit reached|1753077600", 1_753_078_000.0) == 0.0
    assert retry_after_s("Claude AI usage limit reached|900", 0.0) is None
    assert retry_after_s("rate limited", 0.0) is None


def test_one_line_keeps_the_end() -> None:
    assert one_line("a\n  b\tc") == "a b c"
    assert one_line("x" * 10 + "END", limit=5) == "…xxEND"


def test_claude_argv() -> None:
    start = ClaudeCli().argv("/bin/claude", Invocation("sid", False, "opus", "Be brief.",
                                                        ("Read", "Edit")))
    assert start == ["/bin/claude", "-p", "--output-format", "json", "--session-id", "sid",
                     "--permission-mode", "acceptEdits", "--model", "opus",
                     "--append-system-prompt", "Be brief.", "--allowedTools", "Read,Edit"]
    resume = ClaudeCli().argv("claude", Invocation("sid", True, read_only=True))
    assert resume == ["claude", "-p", "--output-format", "json", "--resume", "sid",
                      "--permission-mode", "plan"]


def test_codex_argv_and_persona() -> None:
    cli = CodexCli()
    assert cli.argv("codex", Invocation("ours", False, "gpt-5")) == [
        "codex", "exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write",
        "-m", "gpt-5", "-"]
    assert cli.argv("codex", Invocation("th-1", True, read_only=True))[-5:] == [
        "--sandbox", "read-only", "resume", "th-1", "-"]
    assert cli.prompt("go", Invocation("x", False, persona="Be kind.")) == (
        "Instructions for this session:\nBe kind.\n\ngo")
    assert cli.prompt("go", Invocation("x", True, persona="Be kind.")) == "go"
