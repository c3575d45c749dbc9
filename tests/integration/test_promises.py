"""Promises through the real engine: SQLite on disk and the skill backend with test skills."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import JobFailed
from engine.loop import Engine, EngineConfig
from engine.model import JSON, BackendName, Graph, JobSpec, JobState, Need, Node
from engine.promise import Promise, run, submit
from engine.signals import Fail
from engine.store.sqlite import SqliteStore
from engine.workers.backend import RunContext
from engine.workers.skill import SkillBackend


class Gates:
    """Skills that wait until the test lets them finish: ``started`` and ``release`` per gate."""

    def __init__(self) -> None:
        self.started: dict[str, asyncio.Event] = {}
        self.release: dict[str, asyncio.Event] = {}
        self.cancelled: list[str] = []

    def open(self, name: str) -> None:
        """Let the job waiting at gate ``name`` finish."""
        self._release(name).set()

    async def reached(self, name: str) -> None:
        """Return once a job is waiting at gate ``name``."""
        await self.started.setdefault(name, asyncio.Event()).wait()

    def _release(self, name: str) -> asyncio.Event:
        return self.release.setdefault(name, asyncio.Event())

    async def wait(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        gate = str(args["gate"])
        release = self._release(gate)
        self.started.setdefault(gate, asyncio.Event()).set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            self.cancelled.append(gate)
            raise
        if args.get("fail"):
            raise Fail(f"{gate} failed on purpose")
        return args.get("value")


@pytest.fixture
def calls() -> Counter[str]:
    return Counter()


@pytest.fixture
def gates() -> Gates:
    return Gates()


@pytest.fixture
def skills(calls: Counter[str], gates: Gates) -> SkillBackend:
    async def echo(args: dict[str, JSON], ctx: RunContext) -> JSON:
        calls["echo"] += 1
        return args

    async def fail(args: dict[str, JSON], ctx: RunContext) -> JSON:
        calls["fail"] += 1
        raise Fail(str(args.get("why", "it failed")))

    async def total(args: dict[str, JSON], ctx: RunContext) -> JSON:
        return sum(int(r["i"]) for r in args["values"])

    async def items(args: dict[str, JSON], ctx: RunContext) -> JSON:
        return args["items"]

    backend = SkillBackend({"echo": echo, "fail": fail, "total": total, "items": items})
    backend.register("wait", gates.wait)
    return backend


@pytest.fixture
def engine(tmp_path: Path, skills: SkillBackend) -> Iterator[Engine]:
    store = SqliteStore.open(tmp_path / "steward.db")
    yield Engine(store, {BackendName.SKILL: skills}, EngineConfig(data_dir=tmp_path))
    store.close()


def echo(**args: JSON) -> JobSpec:
    return JobSpec(BackendName.SKILL, {"skill": "echo", "args": args})


def fail(why: str = "on purpose") -> JobSpec:
    return JobSpec(BackendName.SKILL, {"skill": "fail", "args": {"why": why}})


def wait(gate: str, value: JSON = None, *, fails: bool = False) -> JobSpec:
    return JobSpec(BackendName.SKILL,
                   {"skill": "wait", "args": {"gate": gate, "value": value, "fail": fails}})


def state(engine: Engine, job_id: int) -> JobState:
    return engine.store.get_job(job_id).state


async def test_all_then_gets_all_results_in_order(engine: Engine) -> None:
    promise = Promise.all(echo(n=1), echo(n=2), echo(n=3)).then(
        echo(results="{{all_results}}", first="{{prev_result.0.n}}"))
    result, _ = await asyncio.gather(run(engine, promise), engine.run_until_idle())
    assert result == {"results": [{"n": 1}, {"n": 2}, {"n": 3}], "first": 1}


async def test_all_keeps_member_order_when_members_finish_out_of_order(
        engine: Engine, gates: Gates) -> None:
    job_id = submit(engine, Promise.all(wait("slow", "s"), wait("fast", "f")).then(
        echo(got="{{all_results}}")))
    driving = asyncio.create_task(engine.run_until_idle())
    await gates.reached("fast")
    gates.open("fast")
    await gates.reached("slow")
    gates.open("slow")
    await driving
    assert await engine.result(job_id) == {"got": ["s", "f"]}


async def test_race_takes_the_first_to_finish_and_cancels_the_losers(
        engine: Engine, gates: Gates) -> None:
    graph = Promise.race(wait("slow", "tortoise"), wait("fast", "hare")).graph()
    ids = engine.submit_graph(graph)
    driving = asyncio.create_task(engine.run_until_idle())
    await gates.reached("slow")
    await gates.reached("fast")
    gates.open("fast")
    await driving
    assert await engine.result(ids[graph.result_key]) == "hare"
    slow, fast = (ids[n.key] for n in graph.nodes[:2])
    assert (state(engine, slow), state(engine, fast)) == (JobState.CANCELLED, JobState.DONE)
    assert gates.cancelled == ["slow"]


async def test_race_rejects_when_the_first_to_settle_fails(engine: Engine, gates: Gates) -> None:
    job_id = submit(engine, Promise.race(wait("slow", "late"), wait("fast", fails=True)))
    driving = asyncio.create_task(engine.run_until_idle())
    await gates.reached("slow")
    gates.open("fast")
    await driving
    with pytest.raises(JobFailed, match="fast failed on purpose"):
        await engine.result(job_id)
    assert gates.cancelled == ["slow"]


async def test_any_takes_the_first_success_past_failures(engine: Engine, gates: Gates) -> None:
    graph = Promise.any(fail(), wait("slow", "late"), wait("fast", "first")).graph()
    ids = engine.submit_graph(graph)
    driving = asyncio.create_task(engine.run_until_idle())
    await gates.reached("slow")
    gates.open("fast")
    await driving
    assert await engine.result(ids[graph.result_key]) == "first"
    assert gates.cancelled == ["slow"]


async def test_any_fails_only_when_every_member_fails(engine: Engine) -> None:
    job_id = submit(engine, Promise.any(fail("one"), fail("two")).then(echo(x="{{prev_result}}")))
    await engine.run_until_idle()
    with pytest.raises(JobFailed) as failed:
        await engine.result(job_id)
    assert failed.value.state == "cancelled"
    graph_group = engine.store.parents(job_id)[0]
    assert graph_group.state is JobState.FAILED
    assert "every member failed" in (graph_group.error or "")


async def test_all_settled_reports_each_outcome(engine: Engine) -> None:
    promise = Promise.all_settled(echo(n=1), fail("no luck")).then(echo(report="{{prev_result}}"))
    result, _ = await asyncio.gather(run(engine, promise), engine.run_until_idle())
    first, second = result["report"]
    assert first == {"status": "fulfilled", "value": {"n": 1}}
    assert second["status"] == "rejected"
    assert "no luck" in second["reason"]


async def test_a_failed_member_fails_all_and_cancels_its_then(engine: Engine,
                                                               calls: Counter[str]) -> None:
    graph = Promise.all(echo(n=1), fail()).then(echo(never="{{all_results}}")).graph()
    ids = engine.submit_graph(graph)
    await engine.run_until_idle()
    group_key = graph.nodes[-1].needs[0].ref
    assert state(engine, ids[str(group_key)]) is JobState.FAILED
    assert state(engine, ids[graph.result_key]) is JobState.CANCELLED
    assert calls["echo"] == 1
    with pytest.raises(JobFailed, match="cancelled"):
        await engine.result(ids[graph.result_key])


async def test_nested_promises_compose(engine: Engine) -> None:
    shared = Promise.job(echo(n=1))
    promise = Promise.all(shared.then(echo(twice="{{prev_result.n}}")),
                          Promise.all_settled(shared, echo(n=2))).then(echo(all="{{all_results}}"))
    result, _ = await asyncio.gather(run(engine, promise), engine.run_until_idle())
    assert result["all"] == [{"twice": 1}, [{"status": "fulfilled", "value": {"n": 1}},
                                            {"status": "fulfilled", "value": {"n": 2}}]]


async def test_map_fans_out_with_index(engine: Engine) -> None:
    promise = Promise.map(["a", "b", "c"], lambda item: echo(item=item, index="{{index}}",
                                                             label="#{{index}}"))
    result, _ = await asyncio.gather(run(engine, promise), engine.run_until_idle())
    assert result == [{"item": "a", "index": 0, "label": "#0"},
                      {"item": "b", "index": 1, "label": "#1"},
                      {"item": "c", "index": 2, "label": "#2"}]


async def test_cancelling_a_group_cancels_its_members(engine: Engine, gates: Gates) -> None:
    graph = Promise.all(wait("one"), wait("two"), echo(n=3)).then(echo(x="{{prev_result}}")).graph()
    ids = engine.submit_graph(graph)
    driving = asyncio.create_task(engine.run_until_idle())
    await gates.reached("one")
    await gates.reached("two")
    group_id = ids[str(graph.nodes[-1].needs[0].ref)]
    engine.cancel(group_id)
    await driving
    members = [ids[n.key] for n in graph.nodes[:2]]
    assert [state(engine, m) for m in members] == [JobState.CANCELLED, JobState.CANCELLED]
    assert state(engine, group_id) is JobState.CANCELLED
    assert state(engine, ids[graph.result_key]) is JobState.CANCELLED
    assert sorted(gates.cancelled) == ["one", "two"]


def fan_out(width: int) -> Promise:
    return Promise.map(range(width), lambda _: echo(i="{{index}}")).then(
        JobSpec(BackendName.SKILL, {"skill": "total", "args": {"values": "{{all_results}}"}}))


async def test_a_thousand_child_fan_out_then_a_join(engine: Engine) -> None:
    job_id = submit(engine, fan_out(1000))
    await engine.run_until_idle()
    assert await engine.result(job_id) == sum(range(1000))


async def test_a_fan_out_costs_the_same_per_child_however_wide(
        tmp_path: Path, skills: SkillBackend) -> None:
    """Engine bug: a group is resolved again, reading every member, each time one member
    settles, so a fan-out of n children costs n² member reads. Eight times wider should take
    about eight times longer; it takes about sixty."""
    narrow = await _seconds_to_run(tmp_path / "narrow", skills, fan_out(100))
    wide = await _seconds_to_run(tmp_path / "wide", skills, fan_out(800))
    assert wide / narrow < 20, f"100 children: {narrow:.2f} s; 800 children: {wide:.2f} s"


async def _seconds_to_run(data_dir: Path, skills: SkillBackend, promise: Promise) -> float:
    store = SqliteStore.open(data_dir / "steward.db")
    try:
        engine = Engine(store, {BackendName.SKILL: skills}, EngineConfig(data_dir=data_dir))
        started = time.perf_counter()
        job_id = submit(engine, promise)
        await engine.run_until_idle()
        elapsed = time.perf_counter() - started
        await engine.result(job_id)
    finally:
        store.close()
    return elapsed



async def test_then_after_a_job_that_returns_a_list_gets_it_as_one_result(engine: Engine) -> None:
    """Engine bug: ``all_results`` is the list of the parents' results, and only a group
    parent's own list stands in for it; a job that happens to return a list is one result."""
    listing = JobSpec(BackendName.SKILL, {"skill": "items", "args": {"items": ["x", "y"]}})
    promise = Promise.job(listing).then(echo(all="{{all_results}}", prev="{{prev_result}}"))
    result, _ = await asyncio.gather(run(engine, promise), engine.run_until_idle())
    assert result == {"all": [["x", "y"]], "prev": ["x", "y"]}


async def test_a_dependant_is_cancelled_as_soon_as_one_of_its_parents_fails(
        engine: Engine, gates: Gates) -> None:
    """Engine bug: ``promises.readiness`` blocks a dependant once any parent has failed, but the
    resolver asks it only after every parent has settled, so the dependant waits for the rest."""
    graph = Graph((Node("bad", fail()), Node("slow", wait("slow", "late")),
                   Node("join", echo(x="{{prev_result}}"), needs=(Need("bad"), Need("slow")))),
                  result_key="join")
    ids = engine.submit_graph(graph)
    driving = asyncio.create_task(engine.run_until_idle())
    await gates.reached("slow")
    with pytest.raises(JobFailed):
        await engine.result(ids["bad"])
    join_state = state(engine, ids["join"])
    gates.open("slow")
    await driving
    assert join_state is JobState.CANCELLED
