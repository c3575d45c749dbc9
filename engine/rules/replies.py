"""A model's strict JSON answer: one object with exactly the expected keys, nothing else."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL)


def json_object(text: str, keys: frozenset[str]) -> dict[str, Any] | None:
    """The object in ``text`` when its keys are exactly ``keys`` (a Markdown code fence around
    it is tolerated); None for prose, other JSON, or missing or extra keys."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) and set(data) == keys else None
