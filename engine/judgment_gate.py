"""The model gate: the ``judge`` skill asks a cheap model "notify or digest?" about one result
the rules left undecided. It fails closed: no gateway, an error, a timeout, an open breaker, the
spend cap or a reply that is not the strict JSON answer all mean digest, never notify.

Register it on the skill backend (``SkillBackend.register(GATE_SKILL, JudgmentGate(...))``);
without it the gate's job fails and the judgment falls to the digest just the same.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine import judgment
from engine.gateway.errors import GatewayError
from engine.gateway.messages import Message, Request
from engine.model import JSON, FailureClass
from engine.rules.judgment import Verdict, parse_gate
from engine.signals import Fail
from engine.store.base import Store
from engine.workers.backend import RunContext
from security.data_marking import DATA_NOTE, wrap_data
from security.redaction import redact

if TYPE_CHECKING:  # the gateway's providers load only in a process that has one
    from engine.gateway.router import Gateway

GATE_PREFIX = (
    "You sort one result of background work for a busy person. Answer notify only if it "
    "changed something they must know or act on today; everything else waits for tomorrow "
    "morning's digest, and most results should wait. " + DATA_NOTE + "\n"
    'Reply with exactly one JSON object and nothing else: {"notify": true or false, '
    '"reason": "one short sentence"}.'
)
RESULT_CHARS = 4000
REASON_CHARS = 120


@dataclass(frozen=True, slots=True)
class GateConfig:
    tier: str = "cheap"
    timeout_s: float = 30.0
    max_tokens: int = 200


Connect = Callable[[], Awaitable["Gateway | None"]]
"""Builds or finds the gateway when the gate first needs it (the provider SDKs load lazily);
it may raise ``Fail`` when no provider can be connected."""


class JudgmentGate:
    """The ``judge`` skill: settles one pending judgment, exactly once, fail closed."""

    def __init__(self, store: Store, gateway: Gateway | None = None,
                 clock: Callable[[], float] = time.time, config: GateConfig | None = None,
                 *, connect: Connect | None = None) -> None:
        self._store = store
        self._gateway = gateway
        self._connect = connect
        self._clock = clock
        self._config = config or GateConfig()
        self._judgments = judgment.Judgments(store, clock)

    async def __call__(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        job_id = args.get("job_id")
        if not isinstance(job_id, int) or isinstance(job_id, bool):
            raise Fail("the judge skill needs an integer job_id", FailureClass.INVALID_INPUT)
        found = self._judgments.of(job_id)
        if found is None or found.verdict is not Verdict.PENDING:
            return {"job_id": job_id, "asked": False,
                    "verdict": found.verdict.value if found else None}
        gateway, problem = await self._gateway_now()
        verdict, reason = (Verdict.DIGEST, problem) if gateway is None else await self._ask(
            gateway, found, ctx)
        judgment.settle(self._store, job_id, verdict, reason, self._clock())
        return {"job_id": job_id, "asked": gateway is not None, "verdict": verdict.value,
                "reason": reason}

    async def _gateway_now(self) -> tuple[Gateway | None, str]:
        """The gateway to ask, or None and why not."""
        if self._gateway is not None or self._connect is None:
            return self._gateway, "no model is configured for the gate"
        try:
            return await self._connect(), "no model is configured for the gate"
        except Fail as exc:
            return None, f"no model could be connected for the gate: {exc.reason}"

    async def _ask(self, gateway: Gateway, found: judgment.Judgment, ctx: RunContext
                   ) -> tuple[Verdict, str]:
        request = Request(
            tier=self._config.tier, messages=(Message.user(self._prompt(found)),),
            stable_prefix=GATE_PREFIX, max_tokens=self._config.max_tokens, temperature=0.0,
            job_id=ctx.job.id, priority=ctx.job.priority)
        try:
            completion = await asyncio.wait_for(gateway.complete(request),
                                                self._config.timeout_s)
        except TimeoutError:
            return Verdict.DIGEST, f"the model gate timed out after {self._config.timeout_s:g} s"
        except GatewayError as exc:
            return Verdict.DIGEST, f"the model gate could not run: {str(exc)[:REASON_CHARS]}"
        answer = parse_gate(completion.message.text)
        if answer is None:
            return Verdict.DIGEST, "the model gate's reply was not the required JSON"
        return (Verdict.NOTIFY if answer.notify else Verdict.DIGEST), f"model gate: {answer.reason}"

    def _prompt(self, found: judgment.Judgment) -> str:
        job = self._store.get_job(found.job_id)
        result = json.dumps(job.result, ensure_ascii=False)[:RESULT_CHARS]
        body = f"summary: {found.summary or ''}\nresult: {result}"
        return wrap_data("background result", f"job {job.id} {job.name or ''}".strip(),
                         redact(body))
