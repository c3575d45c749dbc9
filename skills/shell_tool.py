"""``shell``: a command run by the engine's shell backend as a job of its own, awaited here.

The command job inherits the caller's trust and is keyed by the calling job and the command, so
a caller that is retried or resumed finds the run it started instead of starting another. Its
timeout, output cap, workspace and secret-free environment are the shell backend's.
"""

from __future__ import annotations

import asyncio

from engine.errors import JobFailed
from engine.model import JSON, BackendName, JobSpec, Trust
from engine.workers.backend import RunContext
from security.authority import inherit
from security.risk import Risk
from skills.engine_link import EngineLink
from skills.errors import ActionFailed
from skills.gate import args_digest
from skills.skill import Skill, schema

BEAT_S = 5.0


class ShellTool:
    """Runs shell commands through the engine, one job per distinct command per caller."""

    def __init__(self, link: EngineLink, beat_s: float = BEAT_S) -> None:
        self._link = link
        self._beat_s = beat_s

    def skill(self) -> Skill:
        return Skill(
            "shell",
            "Run a shell command (/bin/sh -c) in the workspace and return its exit code and "
            "output. It has a time limit and an output cap, and never sees Steward's secrets. "
            "The same command twice in one job runs once.",
            schema({"command": {"type": "string", "minLength": 1, "maxLength": 10_000},
                    "cwd": {"type": "string", "minLength": 1, "maxLength": 1024},
                    "timeout_s": {"type": "number", "exclusiveMinimum": 0,
                                  "maximum": 3600}}, ("command",)),
            Risk.HIGH, self.run)

    async def run(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        job = ctx.job
        payload = {k: args[k] for k in ("command", "cwd") if k in args}
        timeout = args.get("timeout_s")
        digest = args_digest(args)
        child = self._link.engine.submit(JobSpec(
            BackendName.SHELL, payload, priority=job.priority, origin=job.origin,
            trust=Trust(inherit(job.trust)), idempotency_key=f"shell:{job.id}:{digest}",
            timeout_s=float(timeout) if timeout is not None else None, max_attempts=1,
            name=f"shell for job {job.id}"))
        try:
            return await self._await(child, ctx)
        except JobFailed as exc:
            raise ActionFailed(f"the command (job {child}) {exc.state}: "
                               f"{exc.error or 'no reason given'}") from None
        except asyncio.CancelledError:
            self._link.engine.cancel(child, f"job {job.id} that ran it was stopped")
            raise

    async def _await(self, child: int, ctx: RunContext) -> JSON:
        """The command's result, heartbeating the caller while it runs."""
        waiting = asyncio.ensure_future(self._link.engine.result(child))
        try:
            while True:
                done, _ = await asyncio.wait({waiting}, timeout=self._beat_s)
                if done:
                    return waiting.result()
                ctx.heartbeat()
        finally:
            waiting.cancel()
