"""The ``llm`` backend: a conversation with a model through the gateway, with tools, a context
budget, a checkpoint after every step, and an optional completion gate."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import tzinfo
from pathlib import Path

from engine.context import ContextSource, PromptContext
from engine.gateway import gate
from engine.gateway.costs import day_start
from engine.gateway.errors import GatewayError, NoProviderAvailable, SpendCapReached
from engine.gateway.messages import Completion, Message, Request, ToolCall, ToolResult
from engine.gateway.router import Gateway
from engine.model import JSON, FailureClass, Job
from engine.rules import validate
from engine.signals import Fail, Retry, Signal
from engine.workers import llm_checkpoint as checkpoint
from engine.workers.backend import RunContext
from engine.workers.llm_budget import Fitted, fit, message_tokens
from engine.workers.llm_checkpoint import Progress
from engine.workers.llm_prompt import (
    LlmConfig,
    Task,
    feedback,
    opening,
    parse_task,
    recalled,
    stable_prefix,
    system_message,
)
from engine.workers.llm_tokens import TokenCounter, cl100k_counter
from engine.workers.llm_tools import Tool, Toolbox, run_call

__all__ = ["LlmBackend", "LlmConfig", "Tool"]

DAY_S = 86_400.0
REST_PAUSE_S = 0.05
REST_PAUSE_MAX_S = 5.0
"""Waits for a resting provider double from the first to the last, unless it says when."""


@dataclass(frozen=True, slots=True)
class _Session:
    """One attempt of one job: what every step of its conversation needs."""

    job: Job
    ctx: RunContext
    task: Task
    tools: Mapping[str, Tool]
    prefix: str
    system: Message | None
    folder: Path
    context: PromptContext | None
    """Memory for this session: its core snapshot is in ``prefix``; recall asks it."""

    @property
    def title(self) -> str:
        return self.job.name or f"llm job {self.job.id}"


class LlmBackend:
    """Runs ``llm`` jobs (payload: ``LlmPayload``) on the model gateway."""

    handles_timeout = False

    def __init__(self, gateway: Gateway, tools: Iterable[Tool] = (),
                 context: ContextSource | None = None, count_tokens: TokenCounter | None = None,
                 config: LlmConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._gateway = gateway
        self._toolbox = Toolbox(tools)
        self._context = context
        self._count = count_tokens or cl100k_counter()
        self._config = config or LlmConfig()
        self._clock = clock

    async def run(self, job: Job, ctx: RunContext) -> JSON:
        session = await self._session(job, ctx)
        progress = await self._resume(session) or await self._begin(session)
        while not progress.done:
            if progress.answer is None:
                progress = await self._converse(session, progress)
            progress = await self._accept(session, progress)
        return result(progress, job.output_schema)

    # -- setting up -----------------------------------------------------------------------------

    async def _session(self, job: Job, ctx: RunContext) -> _Session:
        """The attempt's setup. Core memory is read once here: every turn of the session
        sends the same prefix, so the provider's prompt cache keeps hitting."""
        task = parse_task(job.payload, self._config)
        try:
            tools = self._toolbox.select(task.skills)
        except KeyError as exc:
            known = ", ".join(self._toolbox.names) or "none"
            raise Fail(f"llm payload: unknown skill {exc.args[0]!r}; registered: {known}",
                       FailureClass.INVALID_INPUT) from None
        context = None
        if self._context is not None:
            context = await self._context.session(job, task.recall)
        core = context.stable_prefix() if context is not None else ""
        return _Session(job, ctx, task, tools, stable_prefix(task.persona, core, tools),
                        system_message(task, job.output_schema),
                        checkpoint.session_dir(ctx.data_dir, job.id), context)

    async def _resume(self, s: _Session) -> Progress | None:
        """The checkpoint of an earlier attempt at this job, if this is a later one."""
        if s.ctx.attempt <= 1 and s.job.recoveries == 0:
            return None
        key = checkpoint.task_key(s.job.payload)
        return await asyncio.to_thread(checkpoint.load, s.folder, key)

    async def _begin(self, s: _Session) -> Progress:
        memories = None
        if s.context is not None and s.task.recall:
            budget = int(s.task.budget_tokens * self._config.recall_share)
            memories = recalled(await s.context.recall(s.task.text, budget))
        conversation = opening(s.task.conversation, memories)
        return Progress(checkpoint.task_key(s.job.payload), conversation,
                        anchor=len(conversation) - 1)

    # -- the conversation -----------------------------------------------------------------------

    async def _converse(self, s: _Session, progress: Progress) -> Progress:
        """Call the model and run the tools it asks for until it answers without tools."""
        while progress.answer is None:
            calls = unanswered(progress.messages)
            if calls:
                progress = await self._run_tools(s, progress, calls)
            progress = await self._turn(s, progress)
        return progress

    async def _turn(self, s: _Session, progress: Progress) -> Progress:
        fitted = self._fit(s, progress)
        completion = await self._complete(s, fitted.messages)
        progress = account(replace(progress, messages=fitted.messages, anchor=fitted.anchor),
                           completion)
        if completion.message.tool_calls:
            if progress.turns - progress.round_start >= s.task.max_turns:
                raise Fail(f"the model kept calling tools for {s.task.max_turns} turns",
                           FailureClass.OTHER)
        elif completion.message.text.strip():
            progress = replace(progress, answer=completion.message.text.strip())
        else:
            raise Retry("the model returned an empty answer", FailureClass.OPTIMISTIC_COMPLETION)
        await self._save(s, progress)
        return progress

    def _fit(self, s: _Session, progress: Progress) -> Fitted:
        fixed = self._count(s.prefix) + sum(
            self._count(json.dumps([t.name, t.description, t.parameters]))
            for t in s.tools.values())
        if s.system is not None:
            fixed += message_tokens(s.system, self._count)
        fitted = fit(progress.messages, fixed, s.task.budget_tokens, self._count, progress.anchor)
        if fitted is None:
            raise Fail(f"the conversation no longer fits the context budget of "
                       f"{s.task.budget_tokens} tokens, even without old tool output",
                       FailureClass.CONTEXT_LOSS)
        return fitted

    async def _complete(self, s: _Session, messages: tuple[Message, ...]) -> Completion:
        task = s.task
        request = Request(
            tier=task.tier, messages=messages if s.system is None else (s.system, *messages),
            stable_prefix=s.prefix, tools=tuple(t.spec for t in s.tools.values()),
            max_tokens=task.max_tokens, temperature=task.temperature, job_id=s.job.id,
            priority=s.job.priority)
        try:
            return await self._ask(request, s.ctx)
        except GatewayError as exc:
            raise signal_for(exc, self._clock(), self._config.zone) from exc
        finally:
            s.ctx.heartbeat()

    async def _ask(self, request: Request, ctx: RunContext) -> Completion:
        """The gateway's completion. While every candidate is only resting (a breaker open, a
        rate limit running out), wait here, up to ``rest_wait_s`` in all: resting is not this
        job's failure, and a storm would otherwise spend its attempts in moments."""
        waited_s, pause_s = 0.0, REST_PAUSE_S
        while True:
            try:
                return await self._gateway.complete(request)
            except NoProviderAvailable as exc:
                left_s = self._config.rest_wait_s - waited_s
                if not exc.transient or left_s <= 0:
                    raise
                wait_s = min(max(exc.retry_after_s or 0.0, pause_s), left_s)
            ctx.heartbeat()
            await asyncio.sleep(wait_s)
            waited_s, pause_s = waited_s + wait_s, min(pause_s * 2, REST_PAUSE_MAX_S)

    async def _run_tools(self, s: _Session, progress: Progress,
                         calls: tuple[ToolCall, ...]) -> Progress:
        """Run the calls in order, checkpointing after each: a retry never runs one twice."""
        limit_chars = s.task.budget_tokens
        for call in calls:
            answer = await run_call(self._toolbox, s.tools, call, s.ctx, limit_chars)
            s.ctx.heartbeat()
            progress = with_result(progress, answer)
            await self._save(s, progress)
        return progress

    # -- accepting the answer -------------------------------------------------------------------

    async def _accept(self, s: _Session, progress: Progress) -> Progress:
        """Check the answer against the job's schema and its reviewer; a rejected answer goes
        back to the model with the reasons, on the next attempt."""
        answer = progress.answer or ""
        problem = schema_problem(answer, s.job.output_schema)
        if problem is not None:
            await self._send_back(s, progress, problem)
        verdict = None
        if s.task.review is not None:
            verdict = await gate.review(
                self._gateway, answer, s.task.text, s.task.review.instructions,
                s.task.review.tier, progress.model or "", s.job.id, s.job.priority)
            s.ctx.heartbeat()
            if not verdict.judged:
                await self._save(s, replace(progress, verdict=verdict.pack()))
                raise Retry(f"not checked: {verdict.reasons}",
                            FailureClass.OPTIMISTIC_COMPLETION, verdict.retry_after_s)
            if not verdict.passed:
                await self._send_back(s, replace(progress, verdict=verdict.pack()),
                                      f"a reviewer ({verdict.checker}) rejected it: "
                                      f"{verdict.reasons}")
        done = replace(progress, done=True, verdict=verdict.pack() if verdict else None)
        await self._save(s, done)
        return done

    async def _send_back(self, s: _Session, progress: Progress, reasons: str) -> None:
        again = replace(progress.with_message(feedback(reasons)), answer=None,
                        round_start=progress.turns)
        await self._save(s, again)
        raise Retry(f"answer not accepted: {reasons}", FailureClass.OPTIMISTIC_COMPLETION)

    async def _save(self, s: _Session, progress: Progress) -> None:
        await asyncio.to_thread(checkpoint.save, s.folder, progress, s.title)


# -- pure steps -----------------------------------------------------------------------------------


def signal_for(exc: GatewayError, now: float, zone: tzinfo) -> Signal:
    """The engine's word for a gateway error. The daily spend cap holds the job until the next
    spend day (in ``zone``) instead of failing it: the owner asked for the work, the budget
    comes back at midnight, and raising the cap lets it run sooner on the owner's ``retry``."""
    reason = str(exc)
    if isinstance(exc, SpendCapReached):
        return Retry(reason, FailureClass.RATE_LIMIT,
                     exc.retry_after_s or until_next_day(now, zone))
    if exc.transient:
        return Retry(reason, exc.failure, exc.retry_after_s)
    return Fail(reason, exc.failure)


def until_next_day(now: float, zone: tzinfo) -> float:
    """Seconds from ``now`` to the start of the next day in ``zone``."""
    # A day and a half past today's start lands inside tomorrow, however long DST makes it.
    tomorrow = day_start(day_start(now, zone) + DAY_S * 1.5, zone)
    return max(tomorrow - now, 1.0)


def unanswered(messages: tuple[Message, ...]) -> tuple[ToolCall, ...]:
    """The last assistant message's tool calls that no tool result answers yet."""
    last = next((i for i in range(len(messages) - 1, -1, -1)
                 if messages[i].role == "assistant"), None)
    if last is None:
        return ()
    answered = {p.call_id for m in messages[last + 1:] for p in m.parts
                if isinstance(p, ToolResult)}
    return tuple(c for c in messages[last].tool_calls if c.id not in answered)


def with_result(progress: Progress, answer: ToolResult) -> Progress:
    """One more tool result: the results of one turn travel in one ``tool`` message."""
    messages = progress.messages
    if messages and messages[-1].role == "tool":
        merged = Message("tool", (*messages[-1].parts, answer))
        return replace(progress, messages=(*messages[:-1], merged))
    return progress.with_message(Message.tool_results(answer))


def account(progress: Progress, completion: Completion) -> Progress:
    """The model's message added, with its usage and cost (as the provider reported them)."""
    used = completion.usage
    usage: checkpoint.UsageTotals = {
        "input_tokens": progress.usage["input_tokens"] + used.input_tokens,
        "output_tokens": progress.usage["output_tokens"] + used.output_tokens,
        "cached_tokens": progress.usage["cached_tokens"] + used.cached_tokens,
    }
    return replace(progress.with_message(completion.message), turns=progress.turns + 1,
                   usage=usage, cost_usd=progress.cost_usd + completion.cost_usd,
                   model=completion.key)


def parse_answer(text: str) -> JSON:
    """The answer as JSON (a Markdown code fence around it is allowed); ``ValueError`` if not."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    return json.loads(body)


def schema_problem(answer: str, schema: JSON) -> str | None:
    """Why the answer does not do for a job with an output schema, or None."""
    if schema is None:
        return None
    try:
        value = parse_answer(answer)
    except ValueError:
        return "the answer is not JSON; answer with one JSON value and nothing else"
    return validate.output(value, schema)


def result(progress: Progress, schema: JSON) -> JSON:
    """The job's result: the answer parsed as JSON when the job has an output schema (what the
    schema describes), else the answer with its turns, usage, cost and model."""
    answer = progress.answer or ""
    if schema is not None:
        return parse_answer(answer)
    found: dict[str, JSON] = {
        "text": answer, "turns": progress.turns, "usage": dict(progress.usage),
        "cost_usd": round(progress.cost_usd, 6), "model": progress.model}
    if progress.verdict is not None:
        found["review"] = progress.verdict
    return found
