"""The registry: names, schemas and arguments checked; listings; the built-in catalog's tiers."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.model import JSON
from engine.workers.backend import RunContext
from security.risk import Risk
from skills.catalog import builtin_registry
from skills.engine_link import EngineLink
from skills.errors import InvalidArguments, SkillUnavailable, UnknownSkill
from skills.gate import Gate
from skills.memory_tools import MemoryTools
from skills.registry import Registry
from skills.skill import Skill, schema


async def _noop(args: dict[str, JSON], ctx: RunContext) -> JSON:
    return None


WRITE = Skill("write", "Write a note. It stays.",
              schema({"path": {"type": "string", "minLength": 1},
                      "size": {"type": "integer", "minimum": 0}}, ("path",)),
              Risk.MEDIUM, _noop)


def _registry(*skills: Skill) -> Registry:
    return Registry(Gate(EngineLink()), skills)


def test_a_duplicate_name_is_refused() -> None:
    registry = _registry(WRITE)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(WRITE)


@pytest.mark.parametrize("name", ["files.read", "", "a b", "x" * 65, "naïve"])
def test_a_name_no_provider_takes_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        _registry(Skill(name, "d", {"type": "object"}, Risk.LOW, _noop))


def test_a_broken_schema_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid JSON schema"):
        _registry(Skill("bad", "d", {"type": "no-such-type"}, Risk.LOW, _noop))


@pytest.mark.parametrize(("args", "message"), [
    ({}, "invalid the arguments: 'path' is a required property"),
    ({"path": ""}, "invalid path:"),
    ({"path": "a", "size": -1}, "invalid size:"),
    ({"path": "a", "size": "big"}, "invalid size:"),
    ({"path": "a", "extra": 1}, "Additional properties"),
    ([1, 2], "must be a JSON object"),
])
def test_bad_arguments_name_the_field(args: JSON, message: str) -> None:
    with pytest.raises(InvalidArguments, match=r"^write: ") as caught:
        _registry(WRITE).check("write", args)
    assert message in str(caught.value)


def test_an_unknown_skill_names_the_known_ones() -> None:
    with pytest.raises(UnknownSkill, match="no skill is named 'nope'; known: write"):
        _registry(WRITE).get("nope")


def test_listing_gives_names_tiers_and_first_sentences() -> None:
    listed = _registry(WRITE).listing()
    assert [(x.name, x.risk, x.summary) for x in listed] == [("write", Risk.MEDIUM,
                                                               "Write a note.")]


def test_the_engine_link_says_when_no_engine_is_bound() -> None:
    with pytest.raises(SkillUnavailable, match="not running"):
        _ = EngineLink().engine


def test_the_builtin_catalog_and_its_risk_tiers(tmp_path: Path) -> None:
    registry = builtin_registry(EngineLink(), tmp_path)
    tiers = {x.name: x.risk for x in registry.listing()}
    assert tiers == {
        "echo": Risk.LOW, "sleep": Risk.LOW, "ask_owner": Risk.LOW, "job_status": Risk.LOW,
        "files_read": Risk.LOW, "files_list": Risk.LOW, "web_fetch": Risk.LOW,
        "phone_notifications": Risk.LOW,
        "files_write": Risk.MEDIUM, "files_delete": Risk.MEDIUM, "phone_screenshot": Risk.MEDIUM,
        "phone_tap": Risk.MEDIUM, "phone_type": Risk.MEDIUM, "phone_launch": Risk.MEDIUM,
        "spawn_job": Risk.MEDIUM, "spawn_pipeline": Risk.MEDIUM,
        "shell": Risk.HIGH, "spawn_agent": Risk.HIGH,
    }
    assert sorted(registry.backend_skills()) == registry.names
    tools = registry.llm_tools(["web_fetch", "files_read"])
    assert [t.name for t in tools] == ["web_fetch", "files_read"]
    with pytest.raises(UnknownSkill):
        registry.llm_tools(["rm_rf"])


def test_memory_skills_are_tiered_and_open_memory_only_when_called(tmp_path: Path) -> None:
    opened: list[int] = []

    async def open_tools() -> MemoryTools:
        opened.append(1)
        raise AssertionError("memory must not open while the registry is built")

    registry = builtin_registry(EngineLink(), tmp_path, memory=open_tools)
    assert (registry.get("recall").risk, registry.get("remember").risk,
            registry.get("core_edit").risk) == (Risk.LOW, Risk.MEDIUM, Risk.MEDIUM)
    assert registry.get("core_edit").data_refused
    assert not registry.get("remember").data_refused
    assert opened == []
