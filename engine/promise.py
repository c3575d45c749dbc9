"""Promises over jobs: a lazy description in the style of JavaScript's, compiled to a graph."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from engine.errors import PipelineError
from engine.model import JSON, BackendName, Graph, GroupKind, JobSpec, Need, Node
from engine.pipeline.compile import check_graph

if TYPE_CHECKING:
    from engine.loop import Engine

T = TypeVar("T")


@dataclass(frozen=True, slots=True, eq=False)
class _Job:
    spec: JobSpec


@dataclass(frozen=True, slots=True, eq=False)
class _Group:
    kind: GroupKind
    members: tuple[Promise, ...]


@dataclass(frozen=True, slots=True, eq=False)
class _Then:
    parent: Promise
    spec: JobSpec


@dataclass(frozen=True, slots=True, eq=False)
class _Map:
    specs: tuple[JobSpec, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Promise:
    """The eventual result of jobs, built from job specs and other promises; nothing runs
    until its ``graph()`` is submitted. A promise used twice is one job, as in JavaScript::

        p = Promise.all(fetch_a, fetch_b).then(summarise)   # summarise sees {{all_results}}
    """

    source: _Job | _Group | _Then | _Map

    @classmethod
    def job(cls, spec: JobSpec) -> Promise:
        """One job's result."""
        return cls(_Job(spec))

    @classmethod
    def all(cls, *members: Promise | JobSpec) -> Promise:
        """Every member's result, in order; rejected as soon as one member fails."""
        return cls(_Group(GroupKind.ALL, _promises(members)))

    @classmethod
    def all_settled(cls, *members: Promise | JobSpec) -> Promise:
        """Once every member has settled, ``{"status": "fulfilled", "value": ...}`` or
        ``{"status": "rejected", "reason": ...}`` for each, in order."""
        return cls(_Group(GroupKind.ALL_SETTLED, _promises(members)))

    @classmethod
    def race(cls, *members: Promise | JobSpec) -> Promise:
        """Settles as the first member to settle does; the others are cancelled."""
        return cls(_Group(GroupKind.RACE, _some("race", members)))

    @classmethod
    def any(cls, *members: Promise | JobSpec) -> Promise:
        """The first member to succeed (the others are cancelled); rejected if all fail."""
        return cls(_Group(GroupKind.ANY, _some("any", members)))

    @classmethod
    def map(cls, items: Iterable[T], make_spec: Callable[[T], JobSpec]) -> Promise:
        """A fan-out: one job per item, each payload may use ``{{index}}``; the result is the
        list of their results, in item order."""
        return cls(_Map(tuple(make_spec(item) for item in items)))

    def then(self, spec: JobSpec) -> Promise:
        """A job that runs once this promise is fulfilled (and is cancelled if it is not); its
        payload may use ``{{prev_result}}`` and ``{{all_results}}``."""
        return Promise(_Then(self, spec))

    def graph(self) -> Graph:
        """The checked graph; its ``result_key`` names the node whose result this promise is."""
        builder = _Builder()
        for promise in _post_order(self):
            builder.add(promise)
        graph = Graph(tuple(builder.nodes), result_key=builder.keys[self])
        check_graph(graph)
        return graph


def _promises(members: Iterable[Promise | JobSpec]) -> tuple[Promise, ...]:
    return tuple(m if isinstance(m, Promise) else Promise.job(m) for m in members)


def _some(kind: str, members: Iterable[Promise | JobSpec]) -> tuple[Promise, ...]:
    promises = _promises(members)
    if not promises:
        raise PipelineError(None, f"Promise.{kind}() needs at least one member to settle")
    return promises


def _parents(promise: Promise) -> tuple[Promise, ...]:
    match promise.source:
        case _Group(_, members):
            return members
        case _Then(parent, _):
            return (parent,)
        case _:
            return ()


def _post_order(root: Promise) -> list[Promise]:
    """Every promise under ``root`` once, parents before the promises that wait on them;
    iterative, so a long ``.then`` chain cannot exhaust the stack."""
    order: list[Promise] = []
    seen: set[Promise] = set()
    stack: list[tuple[Promise, bool]] = [(root, False)]
    while stack:
        promise, expanded = stack.pop()
        if promise in seen:
            continue
        if expanded:
            seen.add(promise)
            order.append(promise)
            continue
        stack.append((promise, True))
        stack.extend((p, False) for p in reversed(_parents(promise)))
    return order


def _label(promise: Promise) -> str:
    source = promise.source
    if isinstance(source, _Group):
        return source.kind.value.lower()
    return type(source).__name__.strip("_").lower()


class _Builder:
    """Collects the nodes of promises given parents first, each under a key of its own."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.keys: dict[Promise, str] = {}
        self._priority: dict[str, int] = {}

    def add(self, promise: Promise) -> None:
        key = f"{_label(promise)}{len(self.nodes) + 1}"
        match promise.source:
            case _Job(spec):
                self._node(Node(key, spec))
            case _Then(parent, spec):
                self._node(Node(key, spec, needs=(Need(self.keys[parent]),)))
            case _Group(kind, members):
                self._group(key, kind, [self.keys[m] for m in members])
            case _Map(specs):
                children = [Node(f"{key}[{i}]", s, idx=i) for i, s in enumerate(specs)]
                for child in children:
                    self._node(child)
                self._group(key, GroupKind.ALL, [c.key for c in children])
        self.keys[promise] = key

    def _group(self, key: str, kind: GroupKind, members: list[str]) -> None:
        """A group is never dispatched; it shows its most urgent member's priority."""
        priority = min((self._priority[m] for m in members), default=2)
        spec = JobSpec(BackendName.GROUP, {}, priority=priority)
        self._node(Node(key, spec, group=kind, needs=tuple(Need(m) for m in members)))

    def _node(self, node: Node) -> None:
        self.nodes.append(node)
        priority = node.spec.priority
        self._priority[node.key] = priority if isinstance(priority, int) else 2


def submit(engine: Engine, promise: Promise) -> int:
    """Enqueue the promise's graph in one transaction; the id of the job whose result it is."""
    graph = promise.graph()
    return engine.submit_graph(graph)[graph.result_key]


async def run(engine: Engine, promise: Promise) -> JSON:
    """Submit the promise and wait for its result; raises ``JobFailed`` if it is rejected."""
    return await engine.result(submit(engine, promise))
