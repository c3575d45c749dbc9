"""The council's graph: members in an allSettled group, then a synthesis that reads them all."""

from __future__ import annotations

import pytest

from engine.gateway.council import (
    DEFAULT_TIMEOUT_S,
    Member,
    council_graph,
    member_specs,
    synthesis_spec,
)
from engine.model import BackendName, GroupKind, Need
from engine.pipeline.compile import check_graph
from engine.promise import Promise
from engine.rules import templates


def test_the_graph_is_members_then_an_all_settled_group_then_the_synthesis() -> None:
    graph = council_graph("Should I refinance?", ["ultra", Member("reasoning"), "mid"],
                          timeout_s=30, synthesis_tier="cheap", priority=1)
    check_graph(graph)
    keys = [n.key for n in graph.nodes]
    assert keys == ["member0", "member1", "member2", "answers", "synthesis"]
    assert graph.result_key == "synthesis"
    members, group, synthesis = graph.nodes[:3], graph.nodes[3], graph.nodes[4]
    assert [m.spec.payload for m in members] == [
        {"prompt": "Should I refinance?", "tier": t} for t in ("ultra", "reasoning", "mid")]
    assert all(m.spec.backend is BackendName.LLM for m in members)
    assert all(m.spec.timeout_s == 30 and m.spec.max_attempts == 1 for m in members)
    assert group.group is GroupKind.ALL_SETTLED
    assert group.needs == tuple(Need(k) for k in keys[:3])
    assert synthesis.needs == (Need("answers"),)
    assert synthesis.spec.payload["tier"] == "cheap"
    assert "{{all_results}}" in synthesis.spec.payload["prompt"]
    assert "Should I refinance?" in synthesis.spec.payload["prompt"]
    assert {n.spec.priority for n in graph.nodes} == {1}


def test_braces_in_the_question_do_not_become_placeholders() -> None:
    spec = synthesis_spec("What does {{name}} mean in Jinja?")
    assert templates.variables(spec.payload) == {"all_results"}


def test_the_promise_form_builds_the_same_shape() -> None:
    specs = member_specs("q", ["ultra", "mid"])
    graph = Promise.all_settled(*specs).then(synthesis_spec("q")).graph()
    assert [n.group for n in graph.nodes] == [None, None, GroupKind.ALL_SETTLED, None]
    assert [n.spec.timeout_s for n in graph.nodes[:2]] == [DEFAULT_TIMEOUT_S] * 2


def test_a_council_needs_a_member() -> None:
    with pytest.raises(ValueError, match="at least one member"):
        council_graph("q", [])
