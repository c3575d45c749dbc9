"""Replies as HTML (never raw JSON), command parsing, addresses, metrics and health."""

from __future__ import annotations

import pytest

from bot import render_chat, status_view
from bot.channel import Address, MessageRef, kind_of, telegram_address
from bot.commands import job_id_arg, parse
from bot.metrics import Snapshot, exposition, health
from bot.repo import OutboxCounts
from engine.model import JobState


@pytest.mark.parametrize(("value", "shown"), [
    (None, "<i>(no output)</i>"),
    ("a < b", "a &lt; b"),
    ({"text": "the <answer>", "usage": {"in": 3}}, "the &lt;answer&gt;"),
    ({"exit_code": 0, "stdout": "hi\n", "stderr": ""}, "exit code 0\n<pre>hi</pre>"),
    ({"n": 1, "nested": {"a": [1, 2]}}, "n: 1\nnested: a: 1, 2"),
    ([1, "two"], "• 1\n• two"),
    (42, "42"),
])
def test_results_are_shown_for_people(value: object, shown: str) -> None:
    assert render_chat.result(value) == shown


def test_answers_say_what_went_wrong_and_what_to_do() -> None:
    failed = render_chat.answer({"job_id": 7, "name": "chat", "state": "failed",
                                 "error": "model <refused>", "result": None})
    assert failed == ("Job 7 (chat) failed: model &lt;refused&gt;\n"
                      "Details: /job 7 · run it again: /retry 7")
    done = render_chat.answer({"job_id": 7, "state": "done", "result": {"text": "hello"}})
    assert done == "hello"
    cancelled = render_chat.answer({"job_id": 8, "state": "cancelled", "error": "by you"})
    assert cancelled == "Job 8 was cancelled: by you"


def test_other_notices_are_rendered_safely() -> None:
    assert render_chat.notice("disk_low", {"text": "Disk <90%> full"}) == "Disk &lt;90%&gt; full"
    assert render_chat.notice("disk_low", {"free_gb": 3}) == "<b>disk low</b>\nfree_gb: 3"


def test_status_lists_the_queue() -> None:
    view = status_view.Picture(now=0.0, counts={JobState.READY: 2, JobState.DONE: 5},
                               open_cards=1, outbox_pending=3, outbox_given_up=1,
                               poll_age_s=2.5)
    text = status_view.render(view, html=True)
    assert "Jobs: 2 ready, 5 done" in text
    assert "Decisions waiting: 1" in text
    assert "Notifications waiting: 3 (1 could not be delivered)" in text
    assert "Telegram: last poll 2.5 s ago" in text


@pytest.mark.parametrize(("text", "parsed"), [
    ("/status", ("status", "")),
    ("/Job@steward_bot  12 ", ("job", "12")),
    ("/run summarise\nmy week", ("run", "summarise\nmy week")),
    ("hello", None),
    ("/", None),
])
def test_commands_are_parsed(text: str, parsed: tuple[str, str] | None) -> None:
    assert parse(text) == parsed


@pytest.mark.parametrize(("args", "value"), [("12", 12), ("#12", 12), ("0", None), ("x", None),
                                             ("-3", None), ("", None), ("9" * 30, None)])
def test_ids_are_positive_numbers(args: str, value: int | None) -> None:
    assert job_id_arg(args) == value


def test_addresses_and_message_refs() -> None:
    assert telegram_address(42) == "telegram:42"
    assert kind_of("telegram:42") == "telegram"
    assert kind_of("console") == "console"
    assert Address.parse("telegram:-100") == Address("telegram", "-100")
    ref = MessageRef("telegram:42", "1001")
    assert MessageRef.parse(str(ref)) == ref
    assert MessageRef.parse("nonsense") is None


def snapshot(**changes: object) -> Snapshot:
    base: dict[str, object] = {
        "jobs": {JobState.READY: 3}, "tick_age_s": 1.0, "tick_limit_s": 30.0,
        "outbox": OutboxCounts(2, 1, 0), "poll_age_s": 4.0, "poll_limit_s": 120.0,
        "dropped": {"stranger": 1000, "no_user": 5}, "repeats": 1, "poll_restarts": 0}
    return Snapshot(**{**base, **changes})  # type: ignore[arg-type]


def test_metrics_in_prometheus_text_format() -> None:
    text = exposition(snapshot())
    assert 'steward_jobs{state="ready"} 3\n' in text
    assert 'steward_jobs{state="running"} 0\n' in text
    assert "# TYPE steward_telegram_dropped_updates_total counter\n" in text
    assert 'steward_telegram_dropped_updates_total{reason="stranger"} 1000\n' in text
    assert "steward_outbox_pending 2\n" in text
    assert "steward_telegram_poll_age_seconds 4\n" in text
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line.startswith("#") or len(line.split(" ")) == 2


def test_health_names_what_is_wrong() -> None:
    assert health(snapshot()) == []
    assert health(snapshot(tick_age_s=31.0)) == ["the engine loop has not ticked for 31 s"]
    assert health(snapshot(poll_age_s=200.0)) == [
        "Telegram polling has not answered for 200 s"]
    assert health(snapshot(poll_age_s=None)) == []  # no Telegram: nothing to poll
