"""The ``claude_code`` and ``codex`` backends: a coding-agent CLI run durably in a routed session.

Payload: ``{"prompt": ..., "worker": optional name, "project": optional path or name,
"session": optional session id}``. The router picks the worker and session (explicit, project,
idle worker, new ephemeral worker); an oversized session is first summarised by the agent into
a fresh session that carries the summary. The run goes through the durable runner, so a SIGKILL
of Steward mid-run is adopted on restart, never repeated. A rate limit or an overloaded server
is retried later; a session the CLI lost or a context overflow is re-routed at once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from engine.model import JSON, BackendName, FailureClass, Job, Trust
from engine.rules.sessions import Request, growth
from engine.signals import Fail, Retry
from engine.workers.agent_cli import AgentCli, ClaudeCli, CodexCli, Invocation
from engine.workers.agent_output import (
    Reply,
    classify,
    one_line,
    retry_after_s,
    session_in_use,
    session_missing,
)
from engine.workers.backend import RunContext
from engine.workers.durable import DurableRunner, Finished, Spec, exit_failure, stopped
from engine.workers.sessions import Plan, Router, SessionRepo, Turn
from engine.workers.shell import PASSED_ENV, is_secret

REROUTES = 2
SUMMARISE = ("Summarise this session so that a fresh session can carry on from it: the goal, "
             "what was done and decided, the current state of the work, open questions and "
             "next steps. Reply with the summary only, in under 300 words.")
CARRIED = "A summary of the earlier session this one continues:\n{summary}\n\nNow: {prompt}"


class Reroute(Retry):
    """The session could not be used as planned (lost by the CLI, or too big): route again."""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Limits and environment of one coding-agent backend."""

    default_timeout_s: float = 1800.0
    output_cap_bytes: int = 8 << 20
    kill_grace_s: float = 5.0
    pass_env: tuple[str, ...] = ()
    """Variables handed to the CLI although they look secret (its own API key)."""


@dataclass(frozen=True, slots=True)
class Task:
    prompt: str
    request: Request


def parse_task(payload: JSON, backend: str, assigned: str | None) -> Task:
    """Check a payload, raising ``Fail(invalid_input)`` with one sentence on the first problem."""
    if not isinstance(payload, dict):
        raise Fail("the payload must be an object with a prompt", FailureClass.INVALID_INPUT)
    prompt = payload.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or "\0" in prompt:
        raise Fail("prompt must be a non-empty string", FailureClass.INVALID_INPUT)
    fields: dict[str, str | None] = {}
    for name in ("worker", "project", "session"):
        value = payload.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()
                                  or "\0" in value):
            raise Fail(f"{name} must be a non-empty string", FailureClass.INVALID_INPUT)
        fields[name] = value
    return Task(prompt, Request(backend, fields["worker"] or assigned, fields["session"],
                                fields["project"]))


class CodingAgentBackend:
    """Runs one coding-agent CLI (see the module text)."""

    handles_timeout = True
    """The job's ``timeout_s`` is the CLI's: the runner stops it and its children."""

    def __init__(self, cli: AgentCli, repo: SessionRepo, workspace: Path, *,
                 config: AgentConfig | None = None, environ: Mapping[str, str] | None = None,
                 clock: Callable[[], float]) -> None:
        self.cli = cli
        self._repo = repo
        self._router = Router(repo, clock)
        self._workspace = workspace
        self._config = config or AgentConfig()
        self._environ = os.environ if environ is None else environ
        self._clock = clock
        self.runner = DurableRunner(output_cap_bytes=self._config.output_cap_bytes,
                                    kill_grace_s=self._config.kill_grace_s,
                                    base_env=self._base_env)

    async def run(self, job: Job, ctx: RunContext) -> JSON:
        task = parse_task(job.payload, self.cli.backend.value, job.worker)
        rerouted = 0
        while True:
            try:
                return await self.runner.run(ctx, ctx.effect_key,
                                             lambda: self._prepare(job, ctx, task),
                                             self._harvest)
            except Reroute:
                rerouted += 1
                if rerouted > REROUTES:
                    raise
            except asyncio.CancelledError:
                if not ctx.released():  # stopped for good: its session is free again
                    self._repo.release_stale(job.id)
                raise

    # -- before the run --------------------------------------------------------------------------

    async def _prepare(self, job: Job, ctx: RunContext, task: Task) -> Spec:
        path = self._binary()
        plan = self._router.route(job.id, task.request)
        compacted = plan.compact
        try:
            if compacted is not None:
                summary = await self._summarise(ctx, plan, path)
                plan = self._router.compacted(plan, summary, job.id)
            return self._spec(job, plan, task, path,
                              compacted.id if compacted is not None else None)
        except BaseException:
            self._router.release(plan)
            raise

    def _binary(self) -> str:
        path = shutil.which(self.cli.binary, path=self._environ.get("PATH", os.defpath))
        if path is None:
            raise Fail(f"{self.cli.binary} is not installed or not on PATH",
                       FailureClass.OTHER)
        return path

    def _cwd(self, project: str | None) -> Path:
        """A project's folder: a configured absolute path, or a folder of the workspace."""
        workspace = self._workspace.resolve()
        if project is None:
            return workspace
        if Path(project).is_absolute():
            folder = Path(project)
            if not any(v.worker.project == project for v in self._repo.overview()):
                raise Fail(f"project {project!r} is an absolute path no worker is configured "
                           "with; name a folder of the workspace instead",
                           FailureClass.INVALID_INPUT)
            if not folder.is_dir():
                raise Fail(f"project folder {project} does not exist", FailureClass.INVALID_INPUT)
            return folder
        folder = (workspace / project).resolve()
        if not folder.is_relative_to(workspace):
            raise Fail(f"project {project!r} leads outside the workspace",
                       FailureClass.INVALID_INPUT)
        return folder

    def _invocation(self, job: Job, plan: Plan) -> Invocation:
        session = plan.session
        sid = (session.external_id or session.id) if plan.resume else session.id
        return Invocation(sid, plan.resume, plan.worker.model, plan.worker.persona,
                          plan.worker.skills, read_only=job.trust is Trust.DATA)

    def _spec(self, job: Job, plan: Plan, task: Task, path: str,
              compacted_from: str | None) -> Spec:
        run = self._invocation(job, plan)
        text = task.prompt
        if plan.session.summary and not plan.resume:
            text = CARRIED.format(summary=plan.session.summary, prompt=text)
        note = {"session": plan.session.id, "worker": plan.worker.name, "how": plan.how.value,
                "resume": plan.resume, "reason": plan.reason, "run": uuid.uuid4().hex,
                "compacted_from": compacted_from}
        return Spec(self.cli.argv(path, run), self._cwd(plan.session.project), {},
                    job.timeout_s or self._config.default_timeout_s,
                    self.cli.prompt(text, run), note)

    async def _summarise(self, ctx: RunContext, plan: Plan, path: str) -> str:
        """Ask the agent, in the oversized session, for a summary: one durable call."""
        old = plan.session
        run = Invocation(old.external_id or old.id, True, plan.worker.model)

        async def prepare() -> Spec:
            return Spec(self.cli.argv(path, run), self._cwd(old.project), {},
                        self._config.default_timeout_s, SUMMARISE, {"summary_of": old.id})

        def harvest(finished: Finished) -> JSON:
            reply = self._reply(finished)
            if reply.is_error or not reply.text.strip():
                raise self._failure(f"could not compact session {old.id}: "
                                    f"{reply.text or 'no summary'}")
            return reply.text.strip()

        summary = await self.runner.run(ctx, f"{ctx.effect_key}:compact:{old.id}", prepare,
                                        harvest)
        return str(summary)

    # -- after the run ---------------------------------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        env = {name: value for name in PASSED_ENV
               if (value := self._environ.get(name)) is not None and not is_secret(name)}
        env.update({name: value for name in self._config.pass_env
                    if (value := self._environ.get(name)) is not None})
        return env

    def _reply(self, finished: Finished) -> Reply:
        """The CLI's reply, or the failure that stands for it."""
        failure = stopped(finished.outcome)
        if failure is not None:
            raise failure
        reply = self.cli.parse(finished.stdout)
        if reply is not None:
            return reply
        name = self.cli.binary
        if finished.outcome["truncated"]:
            raise Fail(f"{name} printed more than {self._config.output_cap_bytes} bytes; the "
                       "output was cut and its result lost", FailureClass.OTHER)
        failed = exit_failure(finished.outcome, finished.stderr)
        said = failed.reason if failed is not None else "it exited with code 0"
        return Reply(text=f"no result: {said}", session_id=None, is_error=True)

    def _harvest(self, finished: Finished) -> JSON:
        note = cast(dict[str, JSON], finished.note or {})
        session_id, resumed = str(note.get("session")), bool(note.get("resume"))
        try:
            reply = self._reply(finished)
        except Fail:
            self._repo.release(session_id)
            raise
        if reply.is_error:
            self._on_error(reply, finished, session_id, resumed)
        added = growth(reply.input_tokens, reply.cached_tokens, reply.output_tokens)
        self._repo.record_turn(session_id, str(note.get("run")),
                               Turn(reply.session_id, resumed, added, reply.cost_usd or 0.0),
                               self._clock())
        return {"text": reply.text, "backend": self.cli.backend.value,
                "worker": note.get("worker"), "session": session_id,
                "external_session": reply.session_id, "resumed": resumed,
                "routed": note.get("how"), "compacted_from": note.get("compacted_from"),
                "cost_usd": reply.cost_usd,
                "usage": {"input_tokens": reply.input_tokens,
                          "cached_tokens": reply.cached_tokens,
                          "output_tokens": reply.output_tokens},
                "turns": reply.turns, "duration_s": round(finished.outcome["duration_s"], 3)}

    def _on_error(self, reply: Reply, finished: Finished, session_id: str,
                  resumed: bool) -> None:
        """Settle the session and raise what the error calls for."""
        said = f"{reply.text}\n{finished.stderr}"
        if resumed and session_missing(said):
            self._repo.retire(session_id, "the CLI has no record of it")
            raise Reroute(f"{self.cli.binary} lost session {session_id}",
                          FailureClass.CONTEXT_LOSS)
        if not resumed and session_in_use(said):
            self._repo.mark_started(session_id, session_id)
            self._repo.release(session_id)
            raise Reroute(f"session {session_id} had started already", FailureClass.OTHER)
        if reply.session_id is not None:
            self._repo.mark_started(session_id, reply.session_id)
        failure = self._failure(reply.text or finished.stderr)
        if failure.failure_class is FailureClass.CONTEXT_LOSS:
            self._repo.oversize(session_id, 1 << 40)
            self._repo.release(session_id)
            raise Reroute(failure.reason, FailureClass.CONTEXT_LOSS)
        self._repo.release(session_id)
        raise failure

    def _failure(self, text: str) -> Fail | Retry:
        kind = classify(text)
        reason = f"{self.cli.binary} failed: {one_line(text) or 'no reason given'}"
        if kind in (FailureClass.RATE_LIMIT, FailureClass.SERVER_ERROR):
            return Retry(reason, kind, retry_after_s(text, self._clock()))
        return Fail(reason, kind)


CLAUDE_ENV = ("CLAUDE_CONFIG_DIR",)
CODEX_ENV = ("CODEX_HOME",)
"""Where each CLI keeps its login and sessions, when not under HOME. API keys are not passed:
the CLIs use their own login, and Steward's provider keys stay Steward's."""


def agent_backends(repo: SessionRepo, workspace: Path, clock: Callable[[], float],
                   environ: Mapping[str, str] | None = None
                   ) -> dict[BackendName, CodingAgentBackend]:
    """The ``claude_code`` and ``codex`` backends over one session store."""
    return {cli.backend: CodingAgentBackend(cli, repo, workspace, clock=clock,
                                                  environ=environ,
                                                  config=AgentConfig(pass_env=env))
            for cli, env in ((ClaudeCli(), CLAUDE_ENV), (CodexCli(), CODEX_ENV))}
