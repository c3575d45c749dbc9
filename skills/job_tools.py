"""Job tools: spawn a sub-job or a pipeline (medium risk), and look at what was spawned (low).

Spawned jobs inherit the spawner's trust (a data job's children are data) and sit one level
below it; jobs nest at most ``max_depth`` deep and one job spawns at most ``max_spawns``. Every
spawn is keyed by the spawning job and what it asked for, so a retried or resumed job finds
the jobs it already spawned instead of spawning them again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from engine.errors import InvalidJob, PipelineError
from engine.model import JSON, BackendName, Graph, Job, JobSpec, Trust
from engine.pipeline.load import load_text
from engine.workers.backend import RunContext
from security.authority import inherit
from security.data_marking import wrap_data
from security.risk import Risk
from skills.engine_link import EngineLink
from skills.errors import InvalidArguments, SkillRefused
from skills.gate import args_digest
from skills.skill import Skill, schema

MAX_DEPTH = 3
MAX_SPAWNS = 20
GATED = (BackendName.LLM.value, BackendName.SKILL.value)
"""Backends whose jobs pass the trust gate themselves (their tool calls, their skill): spawning
one is medium risk, since everything risky it then does waits for the owner in its turn."""
AGENTS = (BackendName.CLAUDE_CODE.value, BackendName.CODEX.value)
"""Coding agents act without the gate: starting one is as risky as running a command (high).
Commands go through the ``shell`` skill (high)."""


def _spawn_schema(backends: tuple[str, ...]) -> dict[str, JSON]:
    return schema({"backend": {"enum": list(backends)}, "payload": {"type": "object"},
                   "name": {"type": "string", "maxLength": 200},
                   "priority": {"type": "integer", "minimum": 0, "maximum": 5}},
                  ("backend", "payload"))


def spawn_key(job_id: int, args: dict[str, JSON]) -> str:
    return f"spawn:{job_id}:{args_digest(args)}"


class JobTools:
    """Spawning within limits, over one engine."""

    def __init__(self, link: EngineLink, gated: Callable[[str], bool],
                 max_depth: int = MAX_DEPTH, max_spawns: int = MAX_SPAWNS) -> None:
        self._link = link
        self._gated = gated
        """Whether a skill name runs behind the trust gate: only those may be spawned."""
        self._max_depth = max_depth
        self._max_spawns = max_spawns

    def skills(self) -> list[Skill]:
        return [
            Skill("spawn_job", "Start a sub-job (an llm task or a skill) with its payload; "
                  "returns its id at once.", _spawn_schema(GATED), Risk.MEDIUM,
                  self.spawn_job),
            Skill("spawn_agent", "Start a coding agent job (claude_code or codex) with its "
                  "payload; returns its id at once.", _spawn_schema(AGENTS), Risk.HIGH,
                  self.spawn_job),
            Skill("spawn_pipeline", "Start a pipeline of llm and skill steps (its JSON form: "
                  "name and steps, as in `steward pipeline run`); returns the id of the job "
                  "whose result is the pipeline's.",
                  schema({"pipeline": {"type": "object"}}, ("pipeline",)), Risk.MEDIUM,
                  self.spawn_pipeline),
            Skill("job_status", "The state and result of a job this job spawned.",
                  schema({"job": {"type": "integer", "minimum": 1}}, ("job",)), Risk.LOW,
                  self.status),
        ]

    async def spawn_job(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        job = ctx.job
        key = spawn_key(job.id, args)
        known = self._link.job_by_key(key)
        if known is not None:
            return self._spawned(known)
        self._check_skill(args)
        acting, depth = self._room(job, 1)
        spec = JobSpec(BackendName(str(args["backend"])), args["payload"],
                       priority=int(args.get("priority", job.priority)), origin=job.origin,
                       trust=Trust(inherit(job.trust)), idempotency_key=key,
                       name=str(args.get("name") or f"spawned by job {job.id}"))
        try:
            with self._link.engine.store.transaction():  # the job and its lineage together
                child = self._link.engine.submit(spec)
                self._link.record(child, acting, depth, "spawn")
        except (InvalidJob, PipelineError) as exc:
            raise InvalidArguments(f"spawn_job: {exc}") from None
        return self._spawned(child)

    async def spawn_pipeline(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        job = ctx.job
        key = spawn_key(job.id, args)
        try:
            graph = load_text(json.dumps(args["pipeline"]), "json", source="the pipeline")
        except (InvalidJob, PipelineError) as exc:
            raise InvalidArguments(f"spawn_pipeline: {exc}") from None
        steps = [n for n in graph.nodes if n.group is None]
        ungated = sorted({n.spec.backend.value for n in steps} - set(GATED))
        if ungated:
            raise SkillRefused(f"spawn_pipeline: steps on {', '.join(ungated)} act without "
                               "the trust gate; run such pipelines with `steward pipeline run`")
        for node in steps:
            self._check_skill({"backend": node.spec.backend.value, "payload": node.spec.payload})
        known = self._link.job_by_key(f"{key}:{graph.result_key}")
        acting, depth = self._room(job, 0 if known is not None else len(steps))
        try:
            with self._link.engine.store.transaction():
                ids = self._link.engine.submit_graph(adopted(graph, job, key))
                for node in steps:
                    self._link.record(ids[node.key], acting, depth, "spawn")
        except (InvalidJob, PipelineError) as exc:
            raise InvalidArguments(f"spawn_pipeline: {exc}") from None
        return {**self._spawned(ids[graph.result_key]), "steps": len(steps)}

    async def status(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        target = int(args["job"])
        acting = self._link.lineage(ctx.job.id).acting_id
        if self._link.spawner_of(target) not in (acting, ctx.job.id):
            raise SkillRefused(f"job {target} was not spawned by this job")
        child = self._link.job(target)
        shown: dict[str, JSON] = {"job": child.id, "state": child.state.value}
        if child.error:
            shown["error"] = child.error
        if child.state.terminal and child.result is not None:
            text = json.dumps(child.result, ensure_ascii=False)
            shown["result"] = wrap_data("job result", f"job {child.id}", text) \
                if child.trust is Trust.DATA else child.result
        return shown

    def _check_skill(self, args: dict[str, JSON]) -> None:
        """A skill job may run only a skill of the registry (behind the gate), not one of the
        engine's own (backups, the judgment gate, mail delivery)."""
        payload = args.get("payload")
        name = payload.get("skill") if isinstance(payload, dict) else None
        if args.get("backend") == BackendName.SKILL.value and not (
                isinstance(name, str) and self._gated(name)):
            raise SkillRefused(f"{name!r} is not a skill that can be spawned")

    def _room(self, job: Job, count: int) -> tuple[int, int]:
        """(the acting job, the children's depth) when ``count`` more spawns fit the limits."""
        lineage = self._link.lineage(job.id)
        depth = lineage.depth + 1
        if depth > self._max_depth:
            raise SkillRefused(f"jobs may nest at most {self._max_depth} deep; job {job.id} "
                               f"is at depth {lineage.depth}")
        spawned = self._link.spawned_by(lineage.acting_id)
        if spawned + count > self._max_spawns:
            raise SkillRefused(f"a job may spawn at most {self._max_spawns} jobs; job "
                               f"{lineage.acting_id} has spawned {spawned}")
        return lineage.acting_id, depth

    def _spawned(self, child_id: int) -> dict[str, JSON]:
        child = self._link.job(child_id)
        return {"job": child.id, "state": child.state.value}


def adopted(graph: Graph, parent: Job, key: str) -> Graph:
    """The pipeline's jobs as children of ``parent``: its trust inherited, keyed under ``key``
    so the same call finds the same jobs."""
    trust = Trust(inherit(parent.trust))
    nodes = tuple(replace(n, spec=replace(n.spec, trust=trust, idempotency_key=f"{key}:{n.key}"))
                  for n in graph.nodes)
    return replace(graph, nodes=nodes)
