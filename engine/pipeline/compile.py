"""Checks a pipeline or a graph and compiles pipelines to the engine's ``Graph``; pure, no I/O."""

from __future__ import annotations

import difflib
import graphlib
import heapq
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from engine.errors import InvalidJob, PipelineError, TemplateError
from engine.model import (
    JSON,
    PRIORITIES,
    BackendName,
    Graph,
    GroupKind,
    JobSpec,
    Need,
    Node,
    Origin,
)
from engine.rules import templates, validate

ITEM = "item"
"""The variable a fan-out step's payload uses for its own item; bound when it compiles."""

RESERVED = frozenset({*templates.BUILTIN_VARIABLES, ITEM})

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ITEM = re.compile(r"\{\{\s*item((?:\.[A-Za-z0-9_]+)*)\s*\}\}")
_KINDS = ", ".join(k.value for k in GroupKind)
_FIELDS = {"map": "items"}
"""Where a key of the file form is held when its field goes by another name."""


@dataclass(frozen=True, slots=True)
class Ref:
    """A step that a step needs, and the variable its result goes by (None: no variable)."""

    step: str
    var: str | None


@dataclass(frozen=True, slots=True)
class StepDef:
    """One step as written, unchecked: a job (``backend``), a fan-out of jobs (``backend`` and
    ``items``) or a promise group (``group`` and ``of``). Options left None take the defaults."""

    name: str
    backend: str | None = None
    payload: JSON = None
    needs: tuple[Ref, ...] = ()
    group: str | None = None
    of: tuple[str, ...] | None = None
    items: tuple[JSON, ...] | None = None
    priority: JSON = None
    timeout_s: JSON = None
    max_attempts: JSON = None
    idempotency_key: JSON = None
    output_schema: JSON = None


@dataclass(frozen=True, slots=True)
class PipelineDef:
    """A pipeline as written: its name and its steps in the order given."""

    name: str
    steps: tuple[StepDef, ...]


def refs(needs: Sequence[str] | Mapping[str, str]) -> tuple[Ref, ...]:
    """Needs as ``Ref``s: a list names steps (each step's name is its variable); a mapping
    gives each needed step a variable name of its own (``{variable: step}``)."""
    if isinstance(needs, Mapping):
        return tuple(Ref(step, var) for var, step in needs.items())
    return tuple(Ref(step, step) for step in needs)


# -- pipelines ----------------------------------------------------------------------------------


def compile_pipeline(pipeline: PipelineDef) -> Graph:
    """The pipeline as a graph in dependency order, or ``PipelineError`` naming the first step
    that is wrong. The graph answers with the last step."""
    if not pipeline.steps:
        raise PipelineError(None, f"pipeline {pipeline.name!r} has no steps; add at least one")
    steps = _by_name(pipeline.steps)
    for step in pipeline.steps:
        _check_shape(step)
        _check_refs(step, steps)
    nodes = [node for name in _order(pipeline.steps)
             for node in _nodes(pipeline.name, steps[name], steps)]
    return Graph(tuple(nodes), result_key=nodes[-1].key)


def _by_name(steps: Sequence[StepDef]) -> dict[str, StepDef]:
    found: dict[str, StepDef] = {}
    for step in steps:
        if not _NAME.fullmatch(step.name):
            raise PipelineError(step.name, "a step name is letters, digits and underscores, "
                                "starting with a letter: it doubles as a template variable")
        if step.name in found:
            raise PipelineError(step.name, "two steps have this name; give each its own")
        found[step.name] = step
    return found


def _check_shape(step: StepDef) -> None:
    """A step is a job or a group, never both, and takes only what its kind uses."""
    if step.group is not None and step.backend is not None:
        raise PipelineError(step.name, "has both group and backend: a step is either a job "
                            "(backend) or a group (group and of)")
    if step.group is None and step.backend is None:
        raise PipelineError(step.name, "has neither backend nor group: say what runs it")
    if step.group is None:
        if step.of is not None:
            raise PipelineError(step.name, "only a group takes `of`; a job lists its `needs`")
        return
    if not step.of:
        raise PipelineError(step.name, "a group needs `of`: the steps it waits on")
    extra = [k for k in ("payload", "map", "timeout_s", "max_attempts", "idempotency_key",
                         "output_schema") if getattr(step, _FIELDS.get(k, k)) is not None]
    if step.needs:
        extra.insert(0, "needs")
    if extra:
        raise PipelineError(step.name, f"a group takes only name, group, of and priority, "
                            f"not {extra[0]}")


def _check_refs(step: StepDef, steps: Mapping[str, StepDef]) -> None:
    named = [r.step for r in step.needs] + list(step.of or ())
    for ref in named:
        if ref not in steps:
            raise PipelineError(step.name, f"needs {ref!r}, which is not a step of this "
                                f"pipeline{_did_you_mean(ref, steps)}")
        if ref == step.name:
            raise PipelineError(step.name, "needs itself; a step can only wait on others")
    twice = next((r for i, r in enumerate(named) if r in named[:i]), None)
    if twice is not None:
        raise PipelineError(step.name, f"needs {twice!r} twice; list each step once")
    for need in step.needs:
        _check_var(step.name, need.var)


def _check_var(step: str, var: str | None) -> None:
    if var is None:
        return
    if not _NAME.fullmatch(var):
        raise PipelineError(step, f"{var!r} cannot be a variable name: use letters, digits "
                            "and underscores, starting with a letter")
    if var in RESERVED:
        raise PipelineError(step, f"a need cannot go by {var!r}, a built-in variable; give it "
                            f"a name of its own (needs: {{other_name: step}})")


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _order(steps: Sequence[StepDef]) -> list[str]:
    """Step names in dependency order, keeping the written order where it already works."""
    position = {s.name: i for i, s in enumerate(steps)}
    sorter = graphlib.TopologicalSorter(
        {s.name: [r.step for r in s.needs] + list(s.of or ()) for s in steps})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        raise _cycle_error(list(exc.args[1]), position) from None
    ready = [position[n] for n in sorter.get_ready()]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = steps[heapq.heappop(ready)].name
        order.append(name)
        sorter.done(name)
        for n in sorter.get_ready():
            heapq.heappush(ready, position[n])
    return order


def _cycle_error(cycle: list[str], position: Mapping[str, int]) -> PipelineError:
    """Name the cycle from its earliest written step; each step in it needs the one before."""
    ring = cycle[:-1]
    start = min(range(len(ring)), key=lambda i: position[ring[i]])
    ring = ring[start:] + ring[:start]
    path = " → ".join([*ring, ring[0]])
    return PipelineError(ring[0], f"the steps form a cycle, each needing the one before it: "
                         f"{path}; remove one of those needs")


# -- nodes --------------------------------------------------------------------------------------


def _nodes(pipeline: str, step: StepDef, steps: Mapping[str, StepDef]) -> list[Node]:
    """A group step is one node; a job step one job; a fan-out one job per item and an ``all``
    group over them, which goes by the step's name."""
    if step.group is not None:
        members = tuple(Need(m) for m in step.of or ())
        return [Node(step.name, _group_spec(pipeline, step), group=_kind(step), needs=members)]
    needs = tuple(Need(r.step, r.var) for r in step.needs)
    fan_out = step.items is not None
    allowed = allowed_variables(needs, fan_out) | ({ITEM} if fan_out else set())
    check_variables(step.name, _payload(step), allowed, steps)
    if step.items is None:
        return [Node(step.name, _spec(pipeline, step, step.name, _payload(step)), needs=needs)]
    children = [Node(f"{step.name}[{i}]", _child_spec(pipeline, step, i, item), needs=needs,
                     idx=i) for i, item in enumerate(step.items)]
    members = tuple(Need(c.key) for c in children)
    return [*children, Node(step.name, _group_spec(pipeline, step), group=GroupKind.ALL,
                            needs=members)]


def _group_spec(pipeline: str, step: StepDef) -> JobSpec:
    return JobSpec(BackendName.GROUP, {}, priority=_priority(step.name, step.priority),
                   origin=Origin.PIPELINE, name=f"{pipeline}/{step.name}")


def _payload(step: StepDef) -> JSON:
    """The payload as written; a step that gives none sends an empty object."""
    return {} if step.payload is None else step.payload


def _kind(step: StepDef) -> GroupKind:
    try:
        return GroupKind(str(step.group))
    except ValueError:
        raise PipelineError(step.name, f"unknown group kind {step.group!r}; use one of: "
                            f"{_KINDS}") from None


def _child_spec(pipeline: str, step: StepDef, i: int, item: JSON) -> JobSpec:
    try:
        validate.json_text(item, f"item {i}")
    except InvalidJob as exc:
        raise PipelineError(step.name, str(exc)) from None
    try:
        payload = bind_item(_payload(step), item)
    except TemplateError as exc:
        raise PipelineError(step.name, f"item {i}: {exc}") from None
    spec = _spec(pipeline, step, f"{step.name}[{i}]", payload)
    if spec.idempotency_key is None:
        return spec
    return replace(spec, idempotency_key=f"{spec.idempotency_key}:{i}")


def _spec(pipeline: str, step: StepDef, key: str, payload: JSON) -> JobSpec:
    """The job a step asks for, checked as the engine would check it at submission."""
    try:
        backend = validate.backend(str(step.backend))
    except InvalidJob as exc:
        raise PipelineError(step.name, str(exc)) from None
    spec = JobSpec(
        backend, payload, priority=_priority(step.name, step.priority), origin=Origin.PIPELINE,
        name=f"{pipeline}/{key}", idempotency_key=_text(step, "idempotency_key"),
        max_attempts=_whole(step, "max_attempts", 4), timeout_s=_seconds(step),
        output_schema=step.output_schema)
    check_spec(step.name, spec)
    return spec


def _priority(step: str, value: JSON) -> int:
    if value is None:
        return 2
    if isinstance(value, bool) or not isinstance(value, int) or value not in PRIORITIES:
        raise PipelineError(step, f"priority must be a whole number from 0 (most urgent) to 5, "
                            f"not {value!r}")
    return value


def _text(step: StepDef, option: str) -> str | None:
    value = getattr(step, option)
    if value is not None and not isinstance(value, str):
        raise PipelineError(step.name, f"{option} must be text, not {value!r}")
    return value


def _whole(step: StepDef, option: str, default: int) -> int:
    value = getattr(step, option)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise PipelineError(step.name, f"{option} must be a whole number, not {value!r}")
    return value


def _seconds(step: StepDef) -> float | None:
    value = step.timeout_s
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise PipelineError(step.name, f"timeout_s must be a number of seconds, not {value!r}")
    return None if value is None else float(value)


def bind_item(template: JSON, item: JSON) -> JSON:
    """The template with ``{{item}}`` (and ``{{item.field}}``) replaced by one fan-out item;
    every other placeholder is left for the engine to render when the job becomes runnable."""
    if isinstance(template, str):
        return _bind_text(template, item)
    if isinstance(template, dict):
        return {_as_text(_bind_text(k, item)): bind_item(v, item) for k, v in template.items()}
    if isinstance(template, list):
        return [bind_item(v, item) for v in template]
    return template


def _bind_text(text: str, item: JSON) -> JSON:
    whole = _ITEM.fullmatch(text.strip())
    if whole:
        return templates.render(whole.group(0), {ITEM: item})
    return _ITEM.sub(lambda m: _as_text(templates.render(m.group(0), {ITEM: item})), text)


def _as_text(value: JSON) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# -- checks shared with the promise API ---------------------------------------------------------


def allowed_variables(needs: Sequence[Need], fan_out: bool) -> set[str]:
    """What a job's payload may refer to: its parents' results (as a whole and by the names its
    needs give them), and its index when it is one of a fan-out."""
    allowed = {n.name for n in needs if n.name}
    if needs:
        allowed |= {"prev_result", "all_results"}
    if fan_out:
        allowed.add("index")
    return allowed


def check_variables(step: str, payload: JSON, allowed: set[str],
                    steps: Iterable[str] = ()) -> None:
    """Refuse a payload that uses a variable the job will not have; ``steps`` are the names
    of the other steps, to point out a need left out."""
    unknown = sorted(templates.variables(payload) - allowed)
    if unknown:
        name = unknown[0]
        raise PipelineError(step, f"the payload uses {{{{{name}}}}}, "
                            f"{_why_unknown(name, allowed, set(steps))}")


def _why_unknown(name: str, allowed: set[str], steps: set[str]) -> str:
    if name == "index":
        return "which only the jobs of a fan-out (map) have"
    if name in ("prev_result", "all_results"):
        return "but it waits on no other step, so no result comes before it"
    if name in steps:
        return f"the result of step {name!r}: add {name!r} to its needs"
    usable = ", ".join(sorted(allowed)) or "none, as it waits on no step and is not a fan-out"
    return f"which is not a variable here{_did_you_mean(name, allowed)}; it can use: {usable}"


def check_spec(step: str, spec: JobSpec) -> None:
    """The engine's own checks on a job, failing as ``PipelineError`` naming the step."""
    try:
        validate.spec(spec)
        validate.json_text(spec.payload, "the payload")
    except InvalidJob as exc:
        raise PipelineError(step, str(exc)) from None


def check_graph(graph: Graph) -> None:
    """Check a graph built by hand or by the promise API as a pipeline is checked: unique keys,
    needs on earlier nodes, each once, known template variables, valid jobs."""
    seen: set[str] = set()
    for node in graph.nodes:
        if node.key in seen:
            raise PipelineError(node.key, "two nodes have this key; give each its own")
        _check_needs(node, seen)
        if node.group is None:
            check_variables(node.key, node.spec.payload,
                            allowed_variables(node.needs, node.idx is not None))
            check_spec(node.key, node.spec)
        else:
            _priority(node.key, node.spec.priority)
        seen.add(node.key)
    if graph.result_key not in seen:
        raise PipelineError(None, f"the graph answers with {graph.result_key!r}, which is not "
                            "one of its nodes")


def _check_needs(node: Node, seen: set[str]) -> None:
    refs_seen: list[str | int] = []
    for need in node.needs:
        if isinstance(need.ref, str) and need.ref not in seen:
            raise PipelineError(node.key, f"needs {need.ref!r}, which is not an earlier node")
        if need.ref in refs_seen:
            raise PipelineError(node.key, f"needs {need.ref!r} twice; list each node once")
        refs_seen.append(need.ref)
        if node.group is None:
            _check_var(node.key, need.name)
