"""Pipelines, from the builder and from files, through the real engine and the skill backend."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from engine.errors import JobFailed, PipelineError
from engine.loop import Engine, EngineConfig
from engine.model import JSON, BackendName, Graph, GroupKind, JobState
from engine.pipeline.dsl import Pipeline
from engine.pipeline.load import load_file
from engine.signals import Fail
from engine.store.sqlite import SqliteStore
from engine.workers.backend import RunContext
from engine.workers.skill import SkillBackend

EXAMPLES = Path(__file__).parents[2] / "examples" / "pipelines"


class Flaky:
    """A skill that fails until the test says it may succeed."""

    def __init__(self, calls: Counter[str]) -> None:
        self.calls = calls
        self.healthy = False

    async def __call__(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        self.calls["flaky"] += 1
        if not self.healthy:
            raise Fail("the source is down")
        return {"news": "all quiet"}


@pytest.fixture
def calls() -> Counter[str]:
    return Counter()


@pytest.fixture
def flaky(calls: Counter[str]) -> Flaky:
    return Flaky(calls)


@pytest.fixture
def skills(calls: Counter[str], flaky: Flaky) -> SkillBackend:
    async def echo(args: dict[str, JSON], ctx: RunContext) -> JSON:
        calls["echo"] += 1
        return args

    async def fetch(args: dict[str, JSON], ctx: RunContext) -> JSON:
        calls["fetch"] += 1
        return {"text": f"page about {args['topic']}", "words": 3}

    return SkillBackend({"echo": echo, "fetch": fetch, "flaky": flaky})


@pytest.fixture
def engine(tmp_path: Path, skills: SkillBackend) -> Iterator[Engine]:
    store = SqliteStore.open(tmp_path / "steward.db")
    yield Engine(store, {BackendName.SKILL: skills}, EngineConfig(data_dir=tmp_path))
    store.close()


async def run_graph(engine: Engine, graph: Graph) -> tuple[dict[str, int], JSON]:
    ids = engine.submit_graph(graph)
    await engine.run_until_idle()
    return ids, await engine.result(ids[graph.result_key])


async def test_named_results_reach_the_payload(engine: Engine) -> None:
    p = Pipeline("research")
    fetch = p.step("fetch", "skill", {"skill": "fetch", "args": {"topic": "tides"}})
    p.step("notes", "skill", {"skill": "echo", "args": {"topic": "moon"}})
    p.step("report", "skill", {"skill": "echo", "args": {
        "page": "{{page.text}}", "size": "{{page.words}}", "notes": "{{notes.topic}}",
        "line": "{{page.words}} words on {{notes.topic}}"}},
        needs={"page": fetch, "notes": "notes"})
    _, result = await run_graph(engine, p.compile())
    assert result == {"page": "page about tides", "size": 3, "notes": "moon",
                      "line": "3 words on moon"}


async def test_map_fans_out_with_item_and_index(engine: Engine) -> None:
    p = Pipeline("fan")
    topics = p.map("topics", ["sun", "sea"], "skill",
                   {"skill": "fetch", "args": {"topic": "{{item}} #{{index}}"}})
    p.step("count", "skill", {"skill": "echo", "args": {"pages": "{{topics}}"}}, needs=[topics])
    _, result = await run_graph(engine, p.compile())
    assert [page["text"] for page in result["pages"]] == ["page about sun #0", "page about sea #1"]


async def test_a_group_step_settles_its_members_by_kind(engine: Engine) -> None:
    p = Pipeline("settled")
    p.step("good", "skill", {"skill": "echo", "args": {"ok": True}})
    p.step("bad", "skill", {"skill": "flaky", "args": {}})
    p.group("both", GroupKind.ALL_SETTLED, of=["good", "bad"])
    p.step("report", "skill", {"skill": "echo", "args": {"seen": "{{both}}"}}, needs=["both"])
    _, result = await run_graph(engine, p.compile())
    assert [o["status"] for o in result["seen"]] == ["fulfilled", "rejected"]


async def test_retrying_a_failed_step_reruns_it_and_its_dependants_only(
        engine: Engine, calls: Counter[str], flaky: Flaky) -> None:
    p = Pipeline("morning")
    p.step("weather", "skill", {"skill": "echo", "args": {"sky": "clear"}})
    p.step("news", "skill", {"skill": "flaky", "args": {}})
    p.group("both", "all", of=["weather", "news"])
    p.step("brief", "skill", {"skill": "echo", "args": {
        "sky": "{{both.0.sky}}", "news": "{{both.1.news}}"}}, needs=["both"])
    graph = p.compile()
    ids = engine.submit_graph(graph)
    await engine.run_until_idle()
    assert engine.store.get_job(ids["news"]).state is JobState.FAILED
    assert engine.store.get_job(ids["brief"]).state is JobState.CANCELLED
    assert calls == Counter({"echo": 1, "flaky": 1})

    flaky.healthy = True
    engine.retry(ids["news"])
    await engine.run_until_idle()
    assert await engine.result(ids["brief"]) == {"sky": "clear", "news": "all quiet"}
    assert calls == Counter({"echo": 2, "flaky": 2})
    assert engine.store.get_job(ids["weather"]).attempts == 1


async def test_a_yaml_file_and_a_json_file_give_the_same_result(
        engine: Engine, tmp_path: Path) -> None:
    source = EXAMPLES / "greetings.yaml"
    as_json = tmp_path / "greetings.json"
    as_json.write_text(json.dumps(yaml.safe_load(source.read_text(encoding="utf-8"))),
                       encoding="utf-8")
    from_yaml, from_json = load_file(source), load_file(as_json)
    assert from_yaml == from_json
    _, first = await run_graph(engine, from_yaml)
    _, second = await run_graph(engine, from_json)
    assert first == second == {
        "greetings": [{"text": f"Hello {n} of steward", "position": i}
                      for i, n in enumerate(["Ada", "Grace", "Linus"])],
        "weather": "clear"}


async def test_the_example_with_a_shell_step_compiles() -> None:
    graph = load_file(EXAMPLES / "morning-research.yaml")
    assert [n.key for n in graph.nodes] == ["a", "b", "both", "join"]
    assert graph.nodes[0].spec.backend is BackendName.SHELL


async def test_a_failed_step_cancels_what_needs_it(engine: Engine) -> None:
    p = Pipeline("broken")
    p.step("news", "skill", {"skill": "flaky", "args": {}})
    p.step("brief", "skill", {"skill": "echo", "args": {"news": "{{news}}"}}, needs=["news"])
    graph = p.compile()
    ids = engine.submit_graph(graph)
    await engine.run_until_idle()
    with pytest.raises(JobFailed, match="cancelled"):
        await engine.result(ids["brief"])


async def test_a_bad_pipeline_is_refused_before_anything_runs(
        engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump({"name": "loop", "steps": [
        {"name": "a", "backend": "skill", "payload": {}, "needs": ["b"]},
        {"name": "b", "backend": "skill", "payload": {}, "needs": ["a"]}]}), encoding="utf-8")
    with pytest.raises(PipelineError, match="cycle"):
        load_file(path)
    assert engine.store.count_by_state() == {}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("missing.yaml", None, "cannot read pipeline file"),
    ("notes.txt", "name: x", "ends in .yaml, .yml or .json"),
    ("bad.json", "{not json", "bad.json is not valid JSON"),
    ("bad.yaml", "steps: [", "bad.yaml is not valid YAML"),
    ("list.yaml", "- a\n- b\n", "list.yaml is not a pipeline"),
    ("nosteps.json", '{"name": "x"}', "nosteps.json has no `steps`"),
    ("binary.yaml", b"\xff\xfe\x00", "binary.yaml is not UTF-8 text"),
])
def test_file_errors_name_the_file(tmp_path: Path, name: str, text: str | bytes | None,
                                   message: str) -> None:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    elif isinstance(text, bytes):
        path.write_bytes(text)
    with pytest.raises(PipelineError) as error:
        load_file(path)
    assert message in str(error.value)
    assert error.value.step is None
