"""Operations' pure decisions: retention, admission, self-heal eligibility, routes, signatures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.backup import archive_name, archive_time, keep_set
from engine.admission import Disk, refusal
from engine.model import BackendName, FailureClass, Origin, Trust
from engine.rules import selfheal as rules

MONDAY = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)


def test_archive_names_round_trip_and_strangers_are_not_archives() -> None:
    assert archive_name(MONDAY) == "steward-20250303T020000Z.tar.gz"
    assert archive_time(archive_name(MONDAY)) == MONDAY
    for stranger in ("notes.txt", "steward-2025.tar.gz", ".steward-20250303T020000Z.tar.gz"):
        assert archive_time(stranger) is None


@pytest.mark.parametrize(("daily", "weekly", "kept"), [
    (1, 0, 1), (7, 0, 7), (0, 1, 1), (0, 4, 3), (7, 4, 9), (30, 0, 21),
])
def test_retention_counts_days_and_weeks(daily: int, weekly: int, kept: int) -> None:
    taken = [MONDAY + timedelta(days=d, hours=h) for d in range(21) for h in (0, 6)]  # 3 weeks
    found = keep_set(taken, daily, weekly)
    assert len(found) == kept
    assert max(taken) in found  # the newest archive is always kept
    for t in found:  # only the newest archive of a day is ever kept
        assert t == max(x for x in taken if x.date() == t.date())


def test_retention_of_nothing_keeps_nothing() -> None:
    assert keep_set([], 7, 4) == set()


@pytest.mark.parametrize(("origin", "used", "refused"), [
    (Origin.OWNER, 0.99, False), (Origin.RHYTHM, 0.85, False), (Origin.RHYTHM, 0.851, True),
    (Origin.SYSTEM, 0.9, True), (Origin.PIPELINE, 0.9, True), (Origin.PIPELINE, 0.5, False),
])
def test_only_background_work_is_refused_above_the_limit(origin: Origin, used: float,
                                                         refused: bool) -> None:
    reason = refusal(origin, Disk(int(used * 1000), 1000), 0.85)
    assert (reason is not None) is refused
    if reason:
        assert reason.startswith(f"the data dir's disk is {used:.0%} full (limit 85%)")


@pytest.mark.parametrize(("backend", "failure", "trust", "payload", "why"), [
    (BackendName.LLM, FailureClass.OPTIMISTIC_COMPLETION, Trust.COMMAND, {}, None),
    (BackendName.LLM, FailureClass.CONTEXT_LOSS, Trust.DATA, {"prompt": "x"}, None),
    (BackendName.LLM, FailureClass.RATE_LIMIT, Trust.COMMAND, {}, "a diagnosis would not help"),
    (BackendName.SHELL, FailureClass.OPTIMISTIC_COMPLETION, Trust.COMMAND, {},
     "only model jobs"),
    (BackendName.LLM, FailureClass.OPTIMISTIC_COMPLETION, Trust.DATA, {"skills": ["mail"]},
     "the owner's to approve"),
])
def test_which_failures_are_healed(backend: BackendName, failure: FailureClass, trust: Trust,
                                   payload: dict[str, object], why: str | None) -> None:
    found = rules.heal_refusal(backend, failure, trust, payload)
    assert found is None if why is None else why in (found or "")


def test_signatures_ignore_what_varies_between_occurrences() -> None:
    one = rules.signature(BackendName.SHELL, FailureClass.OTHER,
                          "the command exited with code 2: 'a.txt' gone after 3.5 s (3f9a0c1e7)")
    two = rules.signature(BackendName.SHELL, FailureClass.OTHER,
                          "The command exited with code 7:  'b.txt' gone after 12 s (ab12cd34ef)")
    assert one == two == "shell|other|the command exited with code #: <text> gone after # s (<id>)"
    assert rules.signature(BackendName.LLM, FailureClass.OTHER, "x") != rules.signature(
        BackendName.SHELL, FailureClass.OTHER, "x")


def test_dependency_failures_and_groups_are_not_incidents() -> None:
    assert rules.counts_as_incident(BackendName.SKILL, FailureClass.INVALID_INPUT)
    assert not rules.counts_as_incident(BackendName.SKILL, FailureClass.DEPENDENCY)
    assert not rules.counts_as_incident(BackendName.GROUP, FailureClass.OTHER)
    assert not rules.counts_as_incident(BackendName.SKILL, None)


TIERS = {
    "mid": [("anthropic/sonnet", "anthropic"), ("openai/mini", "openai")],
    "reasoning": [("openai/o3", "openai")],
    "cheap": [("anthropic/haiku", "anthropic")],
}


@pytest.mark.parametrize(("job_tier", "failed", "route"), [
    ("mid", "anthropic/sonnet", rules.Route("reasoning", ())),
    ("mid", "openai/mini", rules.Route("cheap", ())),
    ("reasoning", "openai/o3", rules.Route("mid", ("openai/mini",))),
    ("mid", None, rules.Route("reasoning", ())),
])
def test_the_diagnosis_goes_to_another_tier_and_provider(
        job_tier: str, failed: str | None, route: rules.Route) -> None:
    assert rules.diagnosis_route(TIERS, job_tier, failed) == route


def test_no_route_when_only_the_failed_provider_is_configured() -> None:
    only = {"mid": [("openai/mini", "openai")], "cheap": [("openai/nano", "openai")]}
    assert rules.diagnosis_route(only, "mid", "openai/mini") is None


def test_the_fix_goes_into_the_system_prompt_and_context_loss_gets_more_budget() -> None:
    healed = rules.healed_payload({"prompt": "p", "system": "Be brief."},
                                  FailureClass.OPTIMISTIC_COMPLETION, "Use {{json}} only.")
    assert healed["prompt"] == "p"
    assert healed["system"].startswith("Be brief.\n\nAn earlier attempt at this task failed "
                                       "(optimistic_completion). Advice from a reviewing model:")
    assert "{{" not in healed["system"]
    assert "Use { {json} } only." in healed["system"]
    assert "budget_tokens" not in healed
    wider = rules.healed_payload({"prompt": "p", "budget_tokens": 100_000},
                                 FailureClass.CONTEXT_LOSS, "Summarise tool output.")
    assert wider["budget_tokens"] == rules.MAX_BUDGET_TOKENS
    assert rules.healed_payload({"prompt": "p"}, FailureClass.CONTEXT_LOSS, "x")[
        "budget_tokens"] == 2 * rules.DEFAULT_BUDGET_TOKENS


def test_task_text_reads_prompts_and_conversations() -> None:
    assert rules.task_text({"prompt": "hi"}) == "hi"
    assert rules.task_text({"messages": [{"role": "user", "content": "a"},
                                         {"role": "assistant", "content": "b"}]}) == \
        "user: a\nassistant: b"
