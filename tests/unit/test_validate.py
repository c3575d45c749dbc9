"""Checks on submissions."""

from __future__ import annotations

import math

import pytest

from engine.errors import InvalidJob
from engine.model import BackendName, JobSpec
from engine.rules import validate


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"priority": -1}, "priority must be a whole number from 0"),
    ({"priority": 6}, "priority must be"),
    ({"priority": True}, "priority must be"),
    ({"payload": ["x"]}, "payload must be a JSON object"),
    ({"max_attempts": 0}, "max_attempts must be at least 1"),
    ({"timeout_s": 0}, "timeout_s must be a positive"),
    ({"timeout_s": math.inf}, "timeout_s must be a positive"),
    ({"output_schema": {"type": 12}}, "output_schema is not a valid JSON schema"),
])
def test_bad_specs(kwargs: dict[str, object], message: str) -> None:
    spec = JobSpec(BackendName.SKILL, **{"payload": {}, **kwargs})  # type: ignore[arg-type]
    with pytest.raises(InvalidJob, match=message):
        validate.spec(spec)


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(InvalidJob, match="unknown backend 'nope'; use one of: claude_code"):
        validate.backend("nope")


def test_group_is_not_submittable() -> None:
    with pytest.raises(InvalidJob, match="all/race/any/allSettled"):
        validate.backend("group")


def test_payload_must_be_plain_json() -> None:
    with pytest.raises(InvalidJob, match="payload is not plain JSON"):
        validate.json_text({"x": math.nan}, "payload")
    with pytest.raises(InvalidJob, match="payload is not plain JSON"):
        validate.json_text({"x": object()}, "payload")


def test_output_matches_schema() -> None:
    schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
    assert validate.output({"n": 1}, schema) is None
    assert "at n" in (validate.output({"n": "x"}, schema) or "")
    assert "the result" in (validate.output([], schema) or "")
