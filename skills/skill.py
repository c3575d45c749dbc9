"""The ``Skill``: a tool with a name, a JSON schema for its arguments, a risk tier and a run.

A skill's risk never depends on who calls it: the trust gate (``skills.gate``) weighs the
caller's trust against it. An action whose risk depends on what it does is split into one skill
per action (``files_read`` is low, ``files_write`` medium).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from engine.model import JSON
from engine.workers.backend import RunContext
from security.risk import Risk

SkillRun = Callable[[dict[str, JSON], RunContext], Awaitable[JSON]]


@dataclass(frozen=True, slots=True)
class Skill:
    """One tool. ``name`` is what the model calls (letters, digits, ``_`` and ``-``);
    ``data_refused`` marks a skill no job born from DATA may run even with approval (core
    memory edits): the gate refuses it at once instead of asking the owner for nothing."""

    name: str
    description: str
    parameters: dict[str, JSON]
    risk: Risk
    run: SkillRun = field(repr=False, compare=False)
    data_refused: bool = False

    @property
    def summary(self) -> str:
        """The description's first sentence, for listings."""
        first = self.description.split(". ", 1)[0].strip()
        return first if first.endswith(".") else f"{first}."


def schema(properties: dict[str, JSON], required: tuple[str, ...] = ()) -> dict[str, JSON]:
    """A closed object schema: the given properties, ``required`` ones, nothing else."""
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}
