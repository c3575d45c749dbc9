"""Self-heal and incidents, as pure decisions: which failures a diagnosis may cure, which model
diagnoses, how the fix enters the payload, and which failures share a signature."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.model import JSON, BackendName, FailureClass, Trust

HEALABLE = frozenset({FailureClass.OPTIMISTIC_COMPLETION, FailureClass.CONTEXT_LOSS})
"""Malformed or unaccepted output, and a conversation that outgrew its budget: a second
model's advice can change the outcome. Rate limits, timeouts and crashes it cannot."""
UNCOUNTED = frozenset({FailureClass.DEPENDENCY})
"""Failures that only echo another job's (a cancelled dependant, a failed group)."""
INCIDENT_THRESHOLD = 3
"""Failures with one signature before the owner is asked to acknowledge an incident."""
DIAGNOSIS_TIERS = ("reasoning", "ultra", "mid", "cheap")
"""Where a diagnosis is asked, in order of preference (skipping the failed job's own tier)."""
DEFAULT_BUDGET_TOKENS = 32_000
MAX_BUDGET_TOKENS = 128_000
DIAGNOSIS_CHARS = 1_500
SHAPE_CHARS = 160

_HEX = re.compile(r"\b[0-9a-f]{8,}\b")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_SPACE = re.compile(r"\s+")


def heal_refusal(backend: BackendName, failure: FailureClass | None, trust: Trust,
                 payload: JSON) -> str | None:
    """Why a failed job gets no self-heal, or None if it gets one."""
    if failure not in HEALABLE:
        return f"{failure.value if failure else 'no'} failure: a diagnosis would not help"
    if backend is not BackendName.LLM:
        return f"a {backend.value} job: only model jobs are healed by advice"
    if trust is Trust.DATA and isinstance(payload, dict) and payload.get("skills"):
        return "a trust=data job with tools: its actions are the owner's to approve"
    return None


def counts_as_incident(backend: BackendName, failure: FailureClass | None) -> bool:
    """Whether a failure is the job's own (a group or a cascade only echoes another's)."""
    return failure is not None and failure not in UNCOUNTED and backend is not BackendName.GROUP


def error_shape(error: str | None) -> str:
    """An error with what varies between occurrences (ids, numbers, quoted values) blanked."""
    text = _HEX.sub("<id>", (error or "").lower())
    text = _QUOTED.sub("<text>", text)
    text = _DIGITS.sub("#", text)
    return _SPACE.sub(" ", text).strip()[:SHAPE_CHARS]


def signature(backend: BackendName, failure: FailureClass, error: str | None) -> str:
    """backend|failure class|error shape: what makes two failures the same incident."""
    return f"{backend.value}|{failure.value}|{error_shape(error)}"


@dataclass(frozen=True, slots=True)
class Route:
    """Where to ask for the diagnosis: a tier, skipping the models that already failed."""

    tier: str
    exclude: tuple[str, ...]


def diagnosis_route(tiers: Mapping[str, Sequence[tuple[str, str]]], job_tier: str,
                    failed_key: str | None) -> Route | None:
    """A tier other than the job's whose candidates include a model of another provider than
    the one that failed (that provider's models excluded); None if there is no such model.
    ``tiers`` maps each tier to its (``provider/model``, provider) candidates."""
    failed_provider = failed_key.split("/", 1)[0] if failed_key else None
    order = [t for t in DIAGNOSIS_TIERS if t != job_tier] + [job_tier]
    for tier in order:
        candidates = tiers.get(tier, ())
        same = tuple(k for k, provider in candidates
                     if provider == failed_provider or k == failed_key)
        if len(same) < len(candidates):
            return Route(tier, same)
    return None


def diagnosis_prompt(failure: FailureClass, error: str | None, task: str) -> str:
    """What the diagnosing model is asked: the task, how it failed, and for one instruction."""
    return (
        "A language-model job failed, and its retries failed the same way.\n"
        f"Failure class: {failure.value}\nError: {(error or 'none recorded')[:600]}\n"
        f"The task, as given:\n<task>\n{task[:3000]}\n</task>\n"
        "Say in at most four sentences what instruction, added to the job's system prompt, "
        "would make the next attempt succeed (for malformed output: the exact format to "
        "answer in). Answer with the instruction only.")


def task_text(payload: JSON) -> str:
    """The task an ``llm`` payload asks: its prompt, or its messages in order."""
    if not isinstance(payload, dict):
        return str(payload)
    if isinstance(payload.get("prompt"), str):
        return str(payload["prompt"])
    messages = payload.get("messages")
    if isinstance(messages, list):
        return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in messages
                         if isinstance(m, dict))
    return ""


def healed_payload(payload: JSON, failure: FailureClass, diagnosis: str) -> JSON:
    """The payload with the diagnosis added to its system prompt (braces broken up, so that
    the template renderer leaves it alone); a context loss also gets twice the budget."""
    advice = diagnosis.strip()[:DIAGNOSIS_CHARS].replace("{{", "{ {").replace("}}", "} }")
    note = (f"An earlier attempt at this task failed ({failure.value}). "
            f"Advice from a reviewing model: {advice}")
    healed = dict(payload) if isinstance(payload, dict) else {"prompt": str(payload)}
    system = str(healed.get("system") or "")
    healed["system"] = f"{system}\n\n{note}".strip()
    if failure is FailureClass.CONTEXT_LOSS:
        budget = healed.get("budget_tokens")
        current = budget if isinstance(budget, int) else DEFAULT_BUDGET_TOKENS
        healed["budget_tokens"] = min(current * 2, MAX_BUDGET_TOKENS)
    return healed
