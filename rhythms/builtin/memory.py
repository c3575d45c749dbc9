"""Memory's rhythms: the nightly tidy at 21:00 and the overnight compaction of working sessions.

Both act through skill jobs (``memory_nightly``, ``compact_sessions``) whose callables are here,
on the memory the process opened. Gather only counts rows and measures session folders, so a
night with nothing new ends at the fingerprint; compaction is the one that calls a model (one
call per session grown past the threshold).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from engine.model import JSON, BackendName, FailureClass, JobSpec
from engine.signals import Fail
from engine.workers.backend import RunContext
from engine.workers.skill import SkillFn
from memory.compaction import (
    COMPACT_AT_CHARS,
    KEEP_SESSIONS_DAYS,
    Summariser,
    compact,
    nightly,
)
from memory.working import SESSIONS_DIR, WorkingMemory
from rhythms.builtin.env import DAY_S, Env
from rhythms.rhythm import Decision, Rhythm, RunInfo, quiet
from rhythms.schedule import coalesce

if TYPE_CHECKING:
    from memory.archival import ArchivalMemory
    from memory.core import CoreMemory

NIGHTLY_SKILL = "memory_nightly"
COMPACT_SKILL = "compact_sessions"


class MemoryParts(Protocol):
    """What the memory skills need of the process's memory (``bot.memory_wiring``'s parts)."""

    core: CoreMemory
    archival: ArchivalMemory
    working: WorkingMemory


MemorySource = Callable[[], Awaitable[MemoryParts]]
SummariserFor = Callable[[int], Summariser]
"""A summariser whose model calls are recorded against the given job."""


def working(env: Env) -> WorkingMemory:
    return WorkingMemory(env.data_dir / SESSIONS_DIR, env.clock)


def maintenance(env: Env, cron: str = "0 21 * * *") -> Rhythm:
    """21:00: archival maintenance, idle sessions pruned, core memory reconciled; only after
    memory changed (or when sessions have become old enough to prune)."""

    async def gather(run: RunInfo) -> JSON:
        cutoff = run.now - KEEP_SESSIONS_DAYS * DAY_S
        old = sum(s.updated_at < cutoff for s in working(env).sessions())
        return {**env.facts.memory_counts(), "prunable_sessions": old}

    async def decide(facts: JSON, previous: JSON, run: RunInfo) -> Decision:
        spec = JobSpec(BackendName.SKILL, {"skill": NIGHTLY_SKILL, "args": {}}, priority=4,
                       name="memory maintenance", max_attempts=2, timeout_s=1800)
        return Decision("memory changed since the last tidy", jobs=(spec,))

    return Rhythm("memory", cron, coalesce(), "memory maintenance: tidy archival, prune sessions",
                  gather, decide, priority=4)


def compaction(env: Env, can_summarise: bool, cron: str = "30 3 * * *") -> Rhythm:
    """03:30: working sessions grown past the threshold are summarised and trimmed."""

    async def gather(run: RunInfo) -> JSON:
        memory = working(env)
        sizes = {s.id: memory.find(s.id).size_chars() for s in memory.sessions()}
        return {"grown": [[i, n] for i, n in sizes.items() if n > COMPACT_AT_CHARS]}

    async def decide(facts: JSON, previous: JSON, run: RunInfo) -> Decision:
        ids = [g[0] for g in facts["grown"]]
        if not ids:
            return quiet("no session needs compaction")
        spec = JobSpec(BackendName.SKILL, {"skill": COMPACT_SKILL, "args": {"sessions": ids}},
                       priority=4, name="session compaction", max_attempts=2, timeout_s=1800)
        return Decision(f"{len(ids)} session(s) to compact", jobs=(spec,))

    return Rhythm("compaction", cron, coalesce(), "overnight compaction of working sessions",
                  gather, decide, priority=4,
                  disabled=None if can_summarise else "no model provider is configured")


def memory_skills(source: MemorySource, summariser: SummariserFor | None) -> dict[str, SkillFn]:
    """The skills memory's rhythms submit, on the process's memory."""

    async def tidy(args: dict[str, JSON], ctx: RunContext) -> JSON:
        parts = await source()
        text = await nightly(parts.archival, parts.core, parts.working)
        return {"text": text, "summary": "Memory tidied: " + text.splitlines()[0],
                "importance": 0.1}

    async def compact_all(args: dict[str, JSON], ctx: RunContext) -> JSON:
        ids = args.get("sessions")
        if summariser is None:
            raise Fail("no model provider is configured to summarise sessions",
                       FailureClass.INVALID_INPUT)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise Fail("sessions must be a list of session ids", FailureClass.INVALID_INPUT)
        parts, summarise = await source(), summariser(ctx.job.id)
        reports = [await compact(parts.working.find(i), parts.archival, summarise) for i in ids]
        lines = [f"{r.session_id}: {r.outcome}" + (f", {r.promoted} promoted" if r.promoted
                                                   else f" ({r.reason})" if r.reason else "")
                 for r in reports]
        return {"text": "\n".join(lines), "importance": 0.1,
                "summary": f"Compacted {sum(r.outcome == 'compacted' for r in reports)} of "
                           f"{len(reports)} working session(s)."}

    return {NIGHTLY_SKILL: tidy, COMPACT_SKILL: compact_all}
