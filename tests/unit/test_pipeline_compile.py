"""Compiling pipelines and promises to graphs: every refusal, and the shape of what compiles."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from engine.errors import PipelineError
from engine.model import BackendName, Graph, GroupKind, JobSpec, Need, Node, Origin
from engine.pipeline.compile import PipelineDef, StepDef, bind_item, check_graph, compile_pipeline
from engine.pipeline.dsl import Pipeline
from engine.pipeline.load import load_text
from engine.promise import Promise

MORNING = textwrap.dedent("""
    name: morning-research
    steps:
      - name: a
        backend: shell
        payload: {command: "echo a"}
      - name: b
        backend: skill
        payload: {skill: echo, args: {text: "hi"}}
      - name: both
        group: all
        of: [a, b]
      - name: join
        backend: skill
        needs: [both]
        priority: 1
        payload: {skill: echo, args: {summary: "{{both}}"}}
""")


def job(name: str, **step: object) -> dict[str, object]:
    return {"name": name, "backend": "skill", "payload": {"skill": "echo"}, **step}


def steps_yaml(*steps: dict[str, object]) -> str:
    return yaml.safe_dump({"name": "p", "steps": list(steps)})


def skill(**args: object) -> JobSpec:
    return JobSpec(BackendName.SKILL, {"skill": "echo", "args": args})


# -- refusals -----------------------------------------------------------------------------------

STEP_ERRORS = [
    ("duplicate name", [job("a"), job("a")], "a", "two steps have this name"),
    ("unknown backend", [job("a", backend="telnet")], "a", "unknown backend 'telnet'"),
    ("group as a backend", [job("a", backend="group")], "a", "made with all/race/any"),
    ("unknown need", [job("fetch"), job("b", needs=["fetc"])], "b",
     "needs 'fetc', which is not a step of this pipeline (did you mean 'fetch'?)"),
    ("unknown member", [job("a"), {"name": "g", "group": "all", "of": ["a", "z"]}], "g",
     "needs 'z', which is not a step"),
    ("needs itself", [job("a", needs=["a"])], "a", "needs itself"),
    ("cycle", [job("a", needs=["c"]), job("b", needs=["a"]), job("c", needs=["b"])], "a",
     "cycle, each needing the one before it: a → b → c → a"),
    ("cycle through a group", [job("x", needs=["g"]), job("y"),
                               {"name": "g", "group": "race", "of": ["x", "y"]}], "x",
     "x → g → x"),
    ("unknown variable", [job("a"), job("b", needs=["a"], payload={"t": "{{ab.text}}"})], "b",
     "uses {{ab}}, which is not a variable here (did you mean 'a'?); it can use: a, "
     "all_results, prev_result"),
    ("variable of a step not needed", [job("a"), job("b", payload={"t": "{{a}}"})], "b",
     "uses {{a}}, the result of step 'a': add 'a' to its needs"),
    ("prev_result without needs", [job("a", payload={"t": "{{prev_result}}"})], "a",
     "uses {{prev_result}}, but it waits on no other step, so no result comes before it"),
    ("index outside a fan-out", [job("a"), job("b", needs=["a"], payload={"i": "{{index}}"})],
     "b", "uses {{index}}, which only the jobs of a fan-out (map) have"),
    ("variable in a key", [job("a", payload={"{{oops}}": 1})], "a",
     "uses {{oops}}, which is not a variable here; it can use: none, as it waits on no step"),
    ("priority too high", [job("a", priority=6)], "a",
     "priority must be a whole number from 0 (most urgent) to 5, not 6"),
    ("priority negative", [job("a", priority=-1)], "a", "not -1"),
    ("priority as text", [job("a", priority="high")], "a", "not 'high'"),
    ("priority as bool", [job("a", priority=True)], "a", "not True"),
    ("group priority", [job("a"), {"name": "g", "group": "all", "of": ["a"], "priority": 9}],
     "g", "priority must be"),
    ("group without of", [{"name": "g", "group": "all"}], "g", "a group needs `of`"),
    ("group with empty of", [{"name": "g", "group": "any", "of": []}], "g", "needs `of`"),
    ("group and backend", [job("a"), {"name": "g", "group": "all", "of": ["a"],
                                      "backend": "skill"}], "g", "has both group and backend"),
    ("neither", [{"name": "a", "payload": {}}], "a", "has neither backend nor group"),
    ("unknown group kind", [job("a"), {"name": "g", "group": "some", "of": ["a"]}], "g",
     "unknown group kind 'some'; use one of: all, race, allSettled, any"),
    ("group with payload", [job("a"), {"name": "g", "group": "all", "of": ["a"], "payload": {}}],
     "g", "a group takes only name, group, of and priority, not payload"),
    ("group with needs", [job("a"), {"name": "g", "group": "all", "of": ["a"], "needs": ["a"]}],
     "g", "not needs"),
    ("group with map", [{"name": "g", "group": "all", "of": ["g"], "map": [1]}], "g", "not map"),
    ("of on a job", [job("a"), job("b", of=["a"])], "b", "only a group takes `of`"),
    ("unknown key", [job("a", retries=3)], "a", "unknown key 'retries'; a step takes name,"),
    ("not_before is not a key", [job("a", not_before=5)], "a", "unknown key 'not_before'"),
    ("need twice", [job("a"), job("b", needs={"x": "a", "y": "a"})], "b", "needs 'a' twice"),
    ("member twice", [job("a"), {"name": "g", "group": "all", "of": ["a", "a"]}], "g",
     "needs 'a' twice"),
    ("need named index", [job("a"), job("b", needs={"index": "a"})], "b",
     "a need cannot go by 'index', a built-in variable"),
    ("step named like a built-in", [job("prev_result"), job("b", needs=["prev_result"])], "b",
     "cannot go by 'prev_result'"),
    ("bad variable name", [job("a"), job("b", needs={"the page": "a"})], "b",
     "'the page' cannot be a variable name"),
    ("bad step name", [job("fetch-news")], "fetch-news", "a step name is letters, digits"),
    ("payload not an object", [job("a", payload=[1, 2])], "a", "payload must be a JSON object"),
    ("payload an empty list", [job("a", payload=[])], "a", "payload must be a JSON object"),
    ("payload empty text", [job("a", payload="")], "a", "payload must be a JSON object"),
    ("payload not plain JSON", [job("a", payload={"at": float("nan")})], "a", "not plain JSON"),
    ("timeout not positive", [job("a", timeout_s=0)], "a", "timeout_s must be a positive"),
    ("timeout as text", [job("a", timeout_s="5")], "a", "timeout_s must be a number"),
    ("max_attempts zero", [job("a", max_attempts=0)], "a", "max_attempts must be at least 1"),
    ("max_attempts as text", [job("a", max_attempts="3")], "a", "max_attempts must be a whole"),
    ("idempotency key not text", [job("a", idempotency_key=7)], "a", "must be text, not 7"),
    ("bad output schema", [job("a", output_schema={"type": "thing"})], "a",
     "output_schema is not a valid JSON schema"),
    ("map not a list", [job("a", map="abc")], "a", "map must be a list"),
    ("item has no field", [job("a", map=["x"], payload={"t": "{{item.size}}"})], "a",
     "item 0: {{item.size}}: no 'size' in the value"),
    ("item not plain JSON", [job("a", map=[1, float("inf")], payload={"t": "n={{item}}"})], "a",
     "item 1 is not plain JSON"),
    ("backend not text", [job("a", backend=3)], "a", "backend must be text, not 3"),
    ("needs not names", [job("a"), job("b", needs=[["a"]])], "b", "needs must list step names"),
    ("of not names", [job("a"), {"name": "g", "group": "all", "of": "a"}], "g",
     "of must list the names"),
]


@pytest.mark.parametrize(("steps", "step", "message"),
                         [pytest.param(s, st, m, id=i) for i, s, st, m in STEP_ERRORS])
def test_a_wrong_step_is_refused_by_name(steps: list[dict[str, object]], step: str,
                                         message: str) -> None:
    text = json.dumps({"name": "p", "steps": steps}, allow_nan=True)
    with pytest.raises(PipelineError) as error:
        load_text(text, "json")
    assert error.value.step == step
    assert str(error.value).startswith(f"step {step!r}: ")
    assert message in str(error.value)


FILE_ERRORS = [
    ("empty pipeline", "name: p\nsteps: []\n", "yaml", "rules.yaml has no steps; list at least"),
    ("not yaml", "steps: [a, b\n", "yaml", "rules.yaml is not valid YAML: expected ',' or ']'"),
    ("not json", '{"steps": }', "json", "rules.yaml is not valid JSON: Expecting value at line 1"),
    ("not a mapping", "- a\n- b\n", "yaml", "rules.yaml is not a pipeline: it should be a mapping"),
    ("empty text", "", "yaml", "rules.yaml is not a pipeline"),
    ("no steps", "name: p\n", "yaml", "rules.yaml has no `steps`; list the steps under"),
    ("steps not a list", "steps: {a: 1}\n", "yaml", "has `steps` that are not a list"),
    ("unknown top key", "name: p\nsteps: []\nschedule: daily\n", "yaml",
     "rules.yaml: unknown key 'schedule'; a pipeline has name, description, steps"),
    ("name not text", "name: [p]\nsteps: []\n", "yaml", "the pipeline's name must be text"),
    ("step not a mapping", "steps: [a]\n", "yaml", "rules.yaml: step 1 is not a mapping"),
    ("step without a name", "steps: [{backend: skill}]\n", "yaml",
     "rules.yaml: step 1 has no name"),
    ("unknown format", "steps: []", "toml", "unknown pipeline format 'toml'; use yaml or json"),
]


@pytest.mark.parametrize(("text", "fmt", "message"),
                         [pytest.param(t, f, m, id=i) for i, t, f, m in FILE_ERRORS])
def test_a_wrong_file_is_refused_with_its_name(text: str, fmt: str, message: str) -> None:
    with pytest.raises(PipelineError) as error:
        load_text(text, fmt, source="rules.yaml")
    assert error.value.step is None
    assert message in str(error.value)


def test_every_refusal_comes_before_a_graph_exists() -> None:
    p = Pipeline("p")
    p.step("a", "skill", {"skill": "echo"}, needs=["b"])
    with pytest.raises(PipelineError, match="'b', which is not a step"):
        p.compile()


def test_a_pipeline_with_no_steps_is_refused() -> None:
    with pytest.raises(PipelineError, match="pipeline 'empty' has no steps"):
        Pipeline("empty").compile()


# -- compiled shape -----------------------------------------------------------------------------


def test_the_file_form_compiles_to_nodes_in_dependency_order() -> None:
    graph = load_text(MORNING, "yaml")
    a, b, both, join = graph.nodes
    assert [n.key for n in graph.nodes] == ["a", "b", "both", "join"]
    assert graph.result_key == "join"
    assert a.spec == JobSpec(BackendName.SHELL, {"command": "echo a"}, origin=Origin.PIPELINE,
                             name="morning-research/a")
    assert both == Node("both", JobSpec(BackendName.GROUP, {}, origin=Origin.PIPELINE,
                                        name="morning-research/both"),
                        group=GroupKind.ALL, needs=(Need("a"), Need("b")))
    assert join.needs == (Need("both", "both"),)
    assert join.spec.priority == 1
    assert (b.needs, b.group, b.idx) == ((), None, None)


def test_the_builder_compiles_to_the_same_graph_as_the_file() -> None:
    p = Pipeline("morning-research")
    a = p.step("a", "shell", {"command": "echo a"})
    b = p.step("b", "skill", {"skill": "echo", "args": {"text": "hi"}})
    both = p.group("both", "all", of=[a, b])
    p.step("join", "skill", {"skill": "echo", "args": {"summary": "{{both}}"}}, needs=[both],
           priority=1)
    assert p.compile() == load_text(MORNING, "yaml")
    as_json = json.dumps(yaml.safe_load(MORNING))
    assert load_text(as_json, "json") == load_text(MORNING, "yaml")


@pytest.mark.parametrize(("written", "compiled"), [
    (["a", "b", "c"], ["a", "b", "c"]),
    (["c", "b", "a"], ["a", "b", "c"]),
    (["b", "x", "a"], ["x", "a", "b"]),
])
def test_order_keeps_the_written_order_where_needs_allow(written: list[str],
                                                         compiled: list[str]) -> None:
    needs = {"a": [], "b": ["a"], "c": ["b"], "x": []}
    graph = load_text(steps_yaml(*(job(n, needs=needs[n]) for n in written)), "yaml")
    assert [n.key for n in graph.nodes] == compiled
    assert graph.result_key == compiled[-1]


def test_needs_as_a_mapping_give_variable_names() -> None:
    p = Pipeline("p")
    fetch = p.step("fetch", "skill", {"skill": "echo"})
    p.step("other", "skill", {"skill": "echo"})
    p.step("use", "skill", {"t": "{{page.text}} {{other}} {{prev_result}}"},
           needs={"page": fetch, "other": "other"})
    assert p.compile().nodes[-1].needs == (Need("fetch", "page"), Need("other", "other"))


def test_a_single_need_may_be_given_alone() -> None:
    p = Pipeline("p")
    fetch = p.step("fetch", "skill", {"skill": "echo"})
    p.step("use", "skill", {"t": "{{fetch}}"}, needs=fetch)
    assert p.compile().nodes[-1].needs == (Need("fetch", "fetch"),)


def test_map_fans_out_one_indexed_job_per_item_under_an_all_group() -> None:
    p = Pipeline("p")
    src = p.step("src", "skill", {"skill": "echo"})
    p.map("each", [{"id": 7}, {"id": 8}], "skill",
          {"skill": "echo", "args": {"id": "{{item.id}}", "line": "#{{index}} of {{item}}",
                                     "from": "{{src}}"}},
          needs=[src], idempotency_key="run-1", timeout_s=5)
    graph = p.compile()
    first, second, group = graph.nodes[1:]
    assert [first.key, second.key, group.key] == ["each[0]", "each[1]", "each"]
    assert (first.idx, second.idx) == (0, 1)
    assert first.spec.payload["args"] == {"id": 7, "line": '#{{index}} of {"id": 7}',
                                          "from": "{{src}}"}
    assert first.needs == (Need("src", "src"),)
    assert (first.spec.idempotency_key, second.spec.idempotency_key) == ("run-1:0", "run-1:1")
    assert first.spec.timeout_s == 5.0
    assert group.group is GroupKind.ALL
    assert group.needs == (Need("each[0]"), Need("each[1]"))


def test_a_map_over_nothing_is_an_empty_group() -> None:
    p = Pipeline("p")
    p.map("each", [], "skill", {"skill": "echo"})
    assert p.compile().nodes == (Node("each", JobSpec(BackendName.GROUP, {},
                                                      origin=Origin.PIPELINE, name="p/each"),
                                      group=GroupKind.ALL),)


@pytest.mark.parametrize(("template", "item", "bound"), [
    ("{{item}}", [1, 2], [1, 2]),
    (" {{ item }} ", 3, 3),
    ("n={{item}}", [1], "n=[1]"),
    ("{{item.a.0}}", {"a": ["x"]}, "x"),
    ({"{{item}}": "{{index}}"}, "k", {"k": "{{index}}"}),
    (["{{item}}", "{{prev_result}}", 5], "v", ["v", "{{prev_result}}", 5]),
    ("{{items}}", 1, "{{items}}"),
])
def test_bind_item_replaces_only_item(template: object, item: object, bound: object) -> None:
    assert bind_item(template, item) == bound


def test_options_reach_the_job_spec() -> None:
    schema = {"type": "object"}
    graph = load_text(steps_yaml(job("a", priority=0, timeout_s=30, max_attempts=2,
                                     idempotency_key="k", output_schema=schema)), "yaml")
    spec = graph.nodes[0].spec
    assert (spec.priority, spec.timeout_s, spec.max_attempts) == (0, 30.0, 2)
    assert (spec.idempotency_key, spec.output_schema) == ("k", schema)


def test_compile_pipeline_takes_a_definition() -> None:
    graph = compile_pipeline(PipelineDef("p", (StepDef("a", "llm", {"prompt": "hi"}),)))
    assert graph.nodes[0].spec.backend is BackendName.LLM


# -- promises -----------------------------------------------------------------------------------


def test_then_depends_on_the_promise_before_it() -> None:
    graph = Promise.job(skill(n=1)).then(skill(got="{{prev_result}}")).graph()
    first, then = graph.nodes
    assert then.needs == (Need(first.key),)
    assert graph.result_key == then.key


def test_a_group_of_specs_and_promises_is_one_group_node() -> None:
    inner = Promise.race(skill(n=1), skill(n=2))
    graph = Promise.all(skill(n=0), inner).graph()
    keys = [n.key for n in graph.nodes]
    group = graph.nodes[-1]
    assert group.group is GroupKind.ALL
    assert group.needs == (Need(keys[0]), Need(keys[3]))
    assert graph.nodes[3].group is GroupKind.RACE
    assert group.spec.backend is BackendName.GROUP


def test_a_promise_used_twice_is_one_job() -> None:
    shared = Promise.job(skill(n=1))
    graph = Promise.all(shared.then(skill(a="{{prev_result}}")),
                        shared.then(skill(b="{{prev_result}}"))).graph()
    assert len(graph.nodes) == 4
    assert graph.nodes[1].needs == graph.nodes[2].needs == (Need(graph.nodes[0].key),)


def test_map_gives_each_child_its_index() -> None:
    graph = Promise.map("ab", lambda c: skill(c=c, i="{{index}}")).graph()
    assert [(n.idx, n.spec.payload["args"]["c"]) for n in graph.nodes[:2]] == [(0, "a"), (1, "b")]
    assert graph.nodes[-1].group is GroupKind.ALL


def test_a_group_shows_its_most_urgent_members_priority() -> None:
    urgent = JobSpec(BackendName.SKILL, {"skill": "echo"}, priority=0)
    assert Promise.any(skill(), urgent).graph().nodes[-1].spec.priority == 0


def test_a_long_chain_does_not_exhaust_the_stack() -> None:
    promise = Promise.job(skill(n=0))
    for _ in range(5000):
        promise = promise.then(skill(n="{{prev_result}}"))
    assert len(promise.graph().nodes) == 5001


@pytest.mark.parametrize(("build", "message"), [
    (lambda: Promise.job(skill(t="{{prev_result}}")), "uses {{prev_result}}"),
    (lambda: Promise.job(skill()).then(skill(t="{{index}}")), "uses {{index}}"),
    (lambda: Promise.map([1], lambda _: skill(t="{{prev_result}}")), "uses {{prev_result}}"),
    (lambda: Promise.job(JobSpec(BackendName.SKILL, {}, priority=7)), "priority must be"),
    (lambda: Promise.job(JobSpec(BackendName.SKILL, ["no"])), "payload must be a JSON object"),
    (lambda: (lambda p: Promise.all(p, p))(Promise.job(skill())), "twice"),
])
def test_a_wrong_promise_is_refused(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(PipelineError, match=message.replace("{", r"\{").replace("}", r"\}")):
        build().graph()


@pytest.mark.parametrize("make", [Promise.race, Promise.any])
def test_race_and_any_need_a_member(make: object) -> None:
    assert callable(make)
    with pytest.raises(PipelineError, match="needs at least one member"):
        make()


def test_check_graph_refuses_needs_on_later_or_missing_nodes() -> None:
    later = Graph((Node("a", skill(), needs=(Need("b"),)), Node("b", skill())), result_key="b")
    with pytest.raises(PipelineError, match="'b', which is not an earlier node"):
        check_graph(later)
    with pytest.raises(PipelineError, match="answers with 'z'"):
        check_graph(Graph((Node("a", skill()),), result_key="z"))
    with pytest.raises(PipelineError, match="two nodes have this key"):
        check_graph(Graph((Node("a", skill()), Node("a", skill())), result_key="a"))


def test_check_graph_accepts_needs_on_stored_jobs() -> None:
    check_graph(Graph((Node("a", skill(x="{{prev_result}}"), needs=(Need(41),)),),
                      result_key="a"))
