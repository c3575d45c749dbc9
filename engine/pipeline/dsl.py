"""The Python form of a pipeline: a builder of named steps that compiles to the engine's graph."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

from engine.model import JSON, Graph, GroupKind
from engine.pipeline.compile import PipelineDef, Ref, StepDef, compile_pipeline, refs


class StepOptions(TypedDict, total=False):
    """The job options a step may set; the engine's defaults stand for the rest."""

    priority: int
    timeout_s: float
    max_attempts: int
    idempotency_key: str
    output_schema: JSON


@dataclass(frozen=True, slots=True)
class Step:
    """A handle on a step already added, to name it in later steps' ``needs`` and ``of``."""

    name: str


StepName = str | Step
Needs = StepName | Sequence[StepName] | Mapping[str, StepName]
"""A step, a list of steps (each goes by its own name in templates), or ``{variable: step}``."""


class Pipeline:
    """Builds a pipeline step by step; ``compile()`` checks it and returns its graph::

        p = Pipeline("digest")
        fetch = p.step("fetch", "skill", {"skill": "fetch", "args": {}})
        p.step("summary", "llm", {"prompt": "Summarise {{fetch}}"}, needs=[fetch])
        graph = p.compile()
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._steps: list[StepDef] = []

    def step(self, name: str, backend: str, payload: JSON = None, *, needs: Needs = (),
             **options: Unpack[StepOptions]) -> Step:
        """A job on ``backend``; its payload may use ``{{prev_result}}``, ``{{all_results}}`` and
        the variables its ``needs`` give."""
        return self._add(StepDef(name, backend, payload, _refs(needs), **options))

    def group(self, name: str, kind: str | GroupKind, of: Sequence[StepName], *,
              priority: int | None = None) -> Step:
        """A promise group (``all``, ``race``, ``any`` or ``allSettled``) over ``of``, in order."""
        return self._add(StepDef(name, group=str(kind), of=tuple(_name(s) for s in of),
                                 priority=priority))

    def map(self, name: str, items: Iterable[JSON], backend: str, payload: JSON, *,
            needs: Needs = (), **options: Unpack[StepOptions]) -> Step:
        """A fan-out: one job per item, its payload given ``{{item}}`` and ``{{index}}``. Later
        steps that need it get the list of the jobs' results, in item order."""
        return self._add(StepDef(name, backend, payload, _refs(needs), items=tuple(items),
                                 **options))

    def definition(self) -> PipelineDef:
        return PipelineDef(self.name, tuple(self._steps))

    def compile(self) -> Graph:
        """The checked graph; raises ``PipelineError`` naming the first step that is wrong."""
        return compile_pipeline(self.definition())

    def _add(self, step: StepDef) -> Step:
        self._steps.append(step)
        return Step(step.name)


def _name(step: StepName) -> str:
    return step.name if isinstance(step, Step) else step


def _refs(needs: Needs) -> tuple[Ref, ...]:
    if isinstance(needs, str | Step):
        return refs([_name(needs)])
    if isinstance(needs, Mapping):
        return refs({var: _name(s) for var, s in needs.items()})
    return refs([_name(s) for s in needs])
