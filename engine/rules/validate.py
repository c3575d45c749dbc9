"""Checks on a submission before it becomes a job, each failing with one clear sentence."""

from __future__ import annotations

import json
import math

import jsonschema

from engine.errors import InvalidJob
from engine.model import JSON, BackendName, JobSpec

SUBMITTABLE = frozenset(b for b in BackendName if b is not BackendName.GROUP)


def backend(name: str) -> BackendName:
    try:
        chosen = BackendName(name)
    except ValueError:
        known = ", ".join(sorted(b.value for b in SUBMITTABLE))
        raise InvalidJob(f"unknown backend {name!r}; use one of: {known}") from None
    if chosen not in SUBMITTABLE:
        raise InvalidJob("a group is made with all/race/any/allSettled, not submitted directly")
    return chosen


def spec(s: JobSpec) -> None:
    """Raise ``InvalidJob`` naming the first thing wrong with ``s``."""
    if s.backend not in SUBMITTABLE:
        backend(str(s.backend))
    if isinstance(s.priority, bool) or not isinstance(s.priority, int) or not 0 <= s.priority <= 5:
        raise InvalidJob(f"priority must be a whole number from 0 (most urgent) to 5, "
                         f"not {s.priority!r}")
    if not isinstance(s.payload, dict):
        raise InvalidJob(f"payload must be a JSON object, not {type(s.payload).__name__}")
    if s.max_attempts < 1:
        raise InvalidJob("max_attempts must be at least 1")
    if s.timeout_s is not None and not (s.timeout_s > 0 and math.isfinite(s.timeout_s)):
        raise InvalidJob("timeout_s must be a positive number of seconds")
    if s.output_schema is not None:
        _schema(s.output_schema)


def json_text(value: JSON, what: str) -> str:
    """``value`` as compact JSON text; anything JSON cannot carry is refused."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidJob(f"{what} is not plain JSON: {exc}") from None


def _schema(schema: JSON) -> None:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidJob(f"output_schema is not a valid JSON schema: {exc.message}") from None


def output(result: JSON, schema: JSON) -> str | None:
    """Why ``result`` does not match ``schema``, or None when it does."""
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(result))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the result"
    return f"output does not match its schema at {where}: {error.message}"
