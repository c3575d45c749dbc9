"""Memory tools: remember, recall and core edits for the model; the bot reuses their functions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Protocol, TypedDict

import jsonschema

from engine.model import JSON, FailureClass, Trust
from engine.signals import Fail
from engine.workers.backend import RunContext
from engine.workers.llm_tools import Tool, ToolFn
from engine.workers.skill import SkillFn
from memory.context import live
from memory.core import CoreEdit, CoreEditRefused, CoreMemory
from memory.errors import InvalidMemory
from memory.records import CATEGORIES, Category, Memory
from memory.records import Trust as TrustName

if TYPE_CHECKING:
    from memory.archival import AddResult, Hit

RECALL_LIMIT = 8


class Archive(Protocol):
    """What the tools need of archival memory."""

    async def add(self, text: str, category: Category = "fact", importance: float = 0.5,
                  source: str | None = None, trust: TrustName = "command",
                  created_at: float | None = None, supersedes: int | None = None
                  ) -> AddResult: ...

    async def search(self, query: str, limit: int = 10) -> list[Hit]: ...

    async def forget(self, memory_id: int) -> None: ...

    async def get(self, memory_id: int) -> Memory: ...


class ToolSchema(TypedDict):
    """A tool as the model is shown it: what it does and its arguments' JSON schema."""

    description: str
    parameters: dict[str, JSON]


_TEXT: dict[str, JSON] = {"type": "string", "minLength": 1}

SCHEMAS: dict[str, ToolSchema] = {
    "remember": {
        "description": "Keep a lasting fact, decision, preference or procedure in long-term "
                       "memory. One self-contained sentence; give supersedes (a memory id) "
                       "when it replaces an older memory.",
        "parameters": {"type": "object", "additionalProperties": False, "required": ["text"],
                       "properties": {
                           "text": _TEXT,
                           "category": {"enum": ["fact", "decision", "procedure", "entity",
                                                 "episode", "preference"]},
                           "importance": {"type": "number", "minimum": 0, "maximum": 1},
                           "supersedes": {"type": "integer", "minimum": 1}}},
    },
    "recall": {
        "description": "Search long-term memory; returns the most relevant memories with "
                       "their ids.",
        "parameters": {"type": "object", "additionalProperties": False, "required": ["query"],
                       "properties": {"query": _TEXT,
                                      "limit": {"type": "integer", "minimum": 1,
                                                "maximum": 20}}},
    },
    "core_edit": {
        "description": "Edit core memory (at most 80 lines, always in your prompt). replace: "
                       "old must match exactly once; insert: new at line N or after the line "
                       "matching after (default: at the end); delete: the line(s) holding match, "
                       "or line N. When it is full, merge or remove lines first.",
        "parameters": {"type": "object", "additionalProperties": False, "required": ["op"],
                       "properties": {
                           "op": {"enum": ["replace", "insert", "delete"]},
                           "old": _TEXT, "new": _TEXT, "after": _TEXT, "match": _TEXT,
                           "line": {"type": "integer", "minimum": 1},
                           "reason": {"type": "string"}}},
    },
}
"""The tools' descriptions and argument schemas, as data the llm worker registers."""

_VALIDATORS = {name: jsonschema.Draft202012Validator(s["parameters"])
               for name, s in SCHEMAS.items()}


def check_args(tool: str, args: dict[str, JSON]) -> None:
    """Refuse arguments off the tool's schema, saying where."""
    error = jsonschema.exceptions.best_match(_VALIDATORS[tool].iter_errors(args))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the arguments"
        raise Fail(f"{tool}: invalid {where}: {error.message}", FailureClass.INVALID_INPUT)


# -- what the bot's commands and the tools share ------------------------------------------------


def trust_name(trust: Trust) -> TrustName:
    return "data" if trust is Trust.DATA else "command"


def category_of(value: JSON) -> Category:
    """``value`` as a memory category, or ``InvalidMemory`` naming the known ones."""
    found = next((c for c in CATEGORIES if c == value), None)
    if found is None:
        raise InvalidMemory(f"unknown category {value!r}; use one of {', '.join(CATEGORIES)}")
    return found


async def remember(archival: Archive, text: str, *, trust: Trust, source: str | None,
                   category: Category = "fact", importance: float = 0.5,
                   supersedes: int | None = None) -> AddResult:
    """Keep ``text`` in archival memory with the trust of whoever said it. Text from DATA
    never retires a memory: the writer refuses its ``supersedes``."""
    return await archival.add(text, category=category, importance=importance, source=source,
                              trust=trust_name(trust), supersedes=supersedes)


async def recall(archival: Archive, query: str, limit: int = RECALL_LIMIT) -> list[Hit]:
    """The live memories most relevant to ``query``, best first."""
    return [h for h in await archival.search(query, limit=limit) if live(h.memory)]


async def forget(archival: Archive, memory_id: int) -> None:
    """End a memory: it is never recalled again (its row stays, for history)."""
    await archival.forget(memory_id)


def core_text(core: CoreMemory) -> str:
    """Core memory as it is now, for ``/core`` and ``steward memory core show``."""
    return core.text()


def day(t: float, zone: tzinfo = UTC) -> str:
    """A memory's date as people and models read it: ``2026-10-03``."""
    return datetime.fromtimestamp(t, zone).strftime("%Y-%m-%d")


def hit_json(hit: Hit) -> dict[str, JSON]:
    m = hit.memory
    return {"id": m.id, "category": m.category, "text": m.text, "importance": m.importance,
            "created_at": m.created_at, "source": m.source, "trust": m.trust,
            "score": round(hit.score, 4), "similarity": round(hit.similarity, 4)}


# -- the tools --------------------------------------------------------------------------------


class MemoryTools:
    """The memory skills over one archival and one core memory. Each takes its trust from
    the job that calls it: a job running on DATA may remember and recall (its memories marked
    as DATA) but never edit core memory."""

    def __init__(self, archival: Archive, core: CoreMemory) -> None:
        self._archival = archival
        self._core = core

    def skills(self) -> dict[str, SkillFn]:
        return {"remember": self.remember, "recall": self.recall, "core_edit": self.core_edit}

    async def remember(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        check_args("remember", args)
        added = await remember(
            self._archival, str(args["text"]), trust=ctx.job.trust, source=f"job {ctx.job.id}",
            category=category_of(args.get("category", "fact")),
            importance=float(args.get("importance", 0.5)), supersedes=args.get("supersedes"))
        return {"id": added.id, "outcome": added.outcome}

    async def recall(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        check_args("recall", args)
        hits = await recall(self._archival, str(args["query"]),
                            int(args.get("limit", RECALL_LIMIT)))
        return [{"id": h.memory.id, "category": h.memory.category, "text": h.memory.text,
                 "created": day(h.memory.created_at), "from_data": h.memory.trust == "data"}
                for h in hits]

    async def core_edit(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        check_args("core_edit", args)
        edit = apply_core_edit(self._core, args, ctx.job.trust, f"job {ctx.job.id}")
        return {"edit": edit.id, "core_memory": str(self._core.usage())}


def apply_core_edit(core: CoreMemory, args: dict[str, JSON], trust: Trust,
                    source: str) -> CoreEdit:
    """Run one ``core_edit`` call; core memory refuses what breaks its rules."""
    reason = args.get("reason")
    why = str(reason) if reason else None
    line = args.get("line")
    number = int(line) if isinstance(line, int) else None
    if args["op"] == "replace":
        if "old" not in args or "new" not in args:
            raise CoreEditRefused("replace needs old (the exact text) and new")
        return core.replace(str(args["old"]), str(args["new"]), trust=trust, reason=why,
                            source=source)
    if args["op"] == "insert":
        if "new" not in args:
            raise CoreEditRefused("insert needs new: the text of the line to add")
        after = args.get("after")
        return core.insert(str(args["new"]), trust=trust, line=number,
                           after=None if after is None else str(after), reason=why,
                           source=source)
    match = args.get("match")
    return core.delete(trust=trust, match=None if match is None else str(match), line=number,
                       reason=why, source=source)


def llm_tools(open_tools: Callable[[], Awaitable[MemoryTools]]) -> list[Tool]:
    """The memory tools as the llm worker's ``Tool``s. ``open_tools`` opens memory when the
    model first calls one, so the backend can be built before memory is."""
    def bind(name: str) -> ToolFn:
        async def call(args: dict[str, JSON], ctx: RunContext) -> JSON:
            return await (await open_tools()).skills()[name](args, ctx)
        return call

    return [Tool(name, schema["description"], schema["parameters"], bind(name))
            for name, schema in SCHEMAS.items()]
