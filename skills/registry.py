"""The skill registry: skills by name, their arguments checked, and the adapters that hand them
to the engine's skill backend and to the llm worker, both through the trust gate."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import jsonschema

from engine.model import JSON, FailureClass
from engine.signals import Fail
from engine.workers.backend import RunContext
from engine.workers.llm_tools import Tool
from engine.workers.skill import SkillBackend, SkillFn
from memory.errors import MemoryFault
from security.errors import SecurityError
from security.redaction import redact, redact_json
from security.risk import Risk
from skills.errors import InvalidArguments, SkillError, SkillUnavailable, UnknownSkill
from skills.gate import Gate
from skills.skill import Skill

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What every provider accepts as a tool name."""


@dataclass(frozen=True, slots=True)
class Listed:
    """A skill as listings show it (``/help``, ``steward worker list``)."""

    name: str
    risk: Risk
    summary: str


class Registry:
    """The skills by name, checked when registered; every run goes through one ``Gate``."""

    def __init__(self, gate: Gate, skills: Iterable[Skill] = ()) -> None:
        self._gate = gate
        self._backends: list[SkillBackend] = []
        self._skills: dict[str, Skill] = {}
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}
        for skill in skills:
            self.register(skill)

    def register(self, skill: Skill) -> None:
        if not NAME.fullmatch(skill.name):
            raise ValueError(f"skill name {skill.name!r} must be 1-64 letters, digits, _ or -")
        if skill.name in self._skills:
            raise ValueError(f"skill {skill.name!r} is already registered")
        try:
            jsonschema.Draft202012Validator.check_schema(skill.parameters)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"skill {skill.name!r}: parameters are not a valid JSON schema: "
                             f"{exc.message}") from None
        self._skills[skill.name] = skill
        self._validators[skill.name] = jsonschema.Draft202012Validator(skill.parameters)
        for backend in self._backends:
            backend.register(skill.name, self._job_fn(skill.name))

    @property
    def names(self) -> list[str]:
        return sorted(self._skills)

    def __contains__(self, name: object) -> bool:
        return name in self._skills

    def get(self, name: str) -> Skill:
        skill = self._skills.get(name)
        if skill is None:
            raise UnknownSkill(f"no skill is named {name!r}; known: {', '.join(self.names)}")
        return skill

    def check(self, name: str, args: JSON) -> Skill:
        """The skill, once ``args`` fit its schema; ``InvalidArguments`` naming the field."""
        skill = self.get(name)
        if not isinstance(args, dict):
            raise InvalidArguments(f"{name}: the arguments must be a JSON object")
        error = jsonschema.exceptions.best_match(self._validators[name].iter_errors(args))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the arguments"
            raise InvalidArguments(f"{name}: invalid {where}: {error.message}")
        return skill

    def listing(self) -> list[Listed]:
        """Every skill with its risk tier and what it does, by name."""
        return [Listed(s.name, s.risk, s.summary) for s in sorted(
            self._skills.values(), key=lambda s: s.name)]

    # -- adapters ---------------------------------------------------------------------------------

    def backend_skills(self) -> dict[str, SkillFn]:
        """The skills as the engine's skill backend runs them (``{"skill", "args"}`` jobs)."""
        return {name: self._job_fn(name) for name in self.names}

    def skill_backend(self) -> SkillBackend:
        backend = SkillBackend()
        self.attach(backend)
        return backend

    def attach(self, backend: SkillBackend) -> None:
        """Run this registry's skills on ``backend``: those registered now, and later ones
        (skills wired after the engine exists, like e-mail's)."""
        for name, fn in self.backend_skills().items():
            backend.register(name, fn)
        self._backends.append(backend)

    def llm_tools(self, names: Iterable[str] | None = None) -> list[Tool]:
        """The skills (all, or those named) as tools the llm worker offers a model."""
        chosen = self.names if names is None else [self.get(n).name for n in names]
        return [Tool(s.name, s.description, s.parameters, self._tool_fn(s.name))
                for s in (self._skills[n] for n in chosen)]

    def _job_fn(self, name: str) -> SkillFn:
        async def run(args: dict[str, JSON], ctx: RunContext) -> JSON:
            try:
                return await self._gate.through_job(self.check(name, args), args, ctx)
            except (SkillError, SecurityError, MemoryFault) as exc:
                raise Fail(redact(str(exc)), failure_of(exc)) from None
        return run

    def _tool_fn(self, name: str) -> SkillFn:
        async def run(args: dict[str, JSON], ctx: RunContext) -> JSON:
            try:
                result = await self._gate.through_llm(self.check(name, args), args, ctx)
            except (SkillError, SecurityError) as exc:  # the model reads it: no secret in it
                raise type(exc)(redact(str(exc))) from None
            return redact_json(result)
        return run


def failure_of(exc: Exception) -> FailureClass:
    """How a skill's refusal is recorded on its job: a missing service may come back."""
    return FailureClass.OTHER if isinstance(exc, SkillUnavailable) else \
        FailureClass.INVALID_INPUT
