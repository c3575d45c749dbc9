"""The completion gate's verdict parsing: the strict shape passes, anything else fails closed."""

from __future__ import annotations

import pytest

from engine.gateway.gate import Verdict, checker_prompt, parse_verdict


@pytest.mark.parametrize(("reply", "expected"), [
    ('{"pass": true, "reasons": "complete and correct"}', (True, "complete and correct")),
    ('{"pass": false, "reasons": "misses the date"}', (False, "misses the date")),
    ('  {"reasons": "ok", "pass": true}\n', (True, "ok")),
    ('```json\n{"pass": true, "reasons": "ok"}\n```', (True, "ok")),
    ('```\n{"pass": false, "reasons": "no"}\n```', (False, "no")),
])
def test_the_strict_shape_is_read(reply: str, expected: tuple[bool, str]) -> None:
    assert parse_verdict(reply) == expected


@pytest.mark.parametrize("reply", [
    "",
    "PASS",
    "Looks good to me!",
    '{"pass": "true", "reasons": "ok"}',
    '{"pass": 1, "reasons": "ok"}',
    '{"pass": true}',
    '{"pass": true, "reasons": 3}',
    '{"pass": true, "reasons": "ok", "score": 9}',
    '[{"pass": true, "reasons": "ok"}]',
    'Sure: {"pass": true, "reasons": "ok"}',
    '{"pass": true, "reasons": "ok"} and more',
    "null",
])
def test_anything_else_is_no_verdict(reply: str) -> None:
    assert parse_verdict(reply) is None


def test_the_checker_sees_task_instructions_and_answer_delimited() -> None:
    prompt = checker_prompt("42", "What is six times seven?", "")
    assert "<task>\nWhat is six times seven?\n</task>" in prompt
    assert "<answer>\n42\n</answer>" in prompt
    assert "fully and correctly" in prompt
    assert "check units" in checker_prompt("42", "q", "check units")


def test_a_verdict_packs_to_plain_json() -> None:
    verdict = Verdict(False, "no other model", None, judged=False, retry_after_s=3.0)
    assert verdict.pack() == {"passed": False, "reasons": "no other model", "checker": None,
                              "judged": False}
