"""The adapter the engine runs a fire job through: the ``rhythm`` skill on the skill backend.

One attempt gathers, compares the facts' fingerprint with the last decided run's (unchanged:
stop, no model), decides, and acts: the decision's jobs, its notices (outbox rows), the new
fingerprint and the run's outcome commit in one transaction. Jobs and notices carry keys
derived from the slot, so a retried fire never submits or sends twice.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NoReturn

from engine.model import JSON, FailureClass, JobSpec, Origin
from engine.signals import Fail
from engine.workers.backend import RunContext
from rhythms.repo import RhythmRepo, RhythmRow, RunOutcome
from rhythms.rhythm import Decision, Notice, Rhythm, RunInfo, fingerprint
from rhythms.scheduler import Clock, Submit, fire_key

log = logging.getLogger("steward.rhythms")

NOTICE_TOPIC = "rhythm"


@dataclass(frozen=True, slots=True)
class FireArgs:
    name: str
    slot: float
    manual: bool


def fire_args(args: Mapping[str, JSON]) -> FireArgs:
    name, slot, manual = args.get("name"), args.get("slot"), args.get("manual", False)
    if not isinstance(name, str) or isinstance(slot, bool) or not isinstance(slot, int | float):
        raise Fail("a rhythm fire needs a name and a slot", FailureClass.INVALID_INPUT)
    return FireArgs(name, float(slot), manual is True)


class RhythmSkill:
    """``{"skill": "rhythm", "args": {"name", "slot", "manual"}}``: one run of one rhythm."""

    def __init__(self, repo: RhythmRepo, rhythms: Sequence[Rhythm], submit: Submit,
                 clock: Clock = time.time) -> None:
        self._repo = repo
        self._rhythms = {r.name: r for r in rhythms}
        self._submit = submit
        self._clock = clock

    async def __call__(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        fire = fire_args(args)
        rhythm = self._rhythms.get(fire.name)
        row = self._repo.get(fire.name)
        if rhythm is None or row is None:
            raise Fail(f"no rhythm called {fire.name!r} is defined here",
                       FailureClass.INVALID_INPUT)
        done = self._repo.run_of_job(ctx.job.id)
        if done is not None and done.finished_at is not None:  # a retry after the commit
            return {"rhythm": fire.name, "outcome": done.outcome, "reason": done.reason}
        run = RunInfo(fire.name, fire.slot, fire.manual, self._clock(), row.tz, row.last_run_at,
                      ctx.job.id)
        facts = await self._gather(rhythm, run)
        mark = fingerprint(facts)
        if not run.manual and mark == row.fingerprint:
            self._finish(run, "unchanged", "nothing changed since the last run")
            return {"rhythm": run.name, "outcome": "unchanged", "changed": False}
        decision = await self._decide(rhythm, facts, row, run)
        outcome: RunOutcome = "acted" if decision.acts else "quiet"
        ids = self._act(run, decision, mark, facts, outcome)
        return {"rhythm": run.name, "outcome": outcome, "reason": decision.reason,
                "jobs": ids, "notices": len(decision.notices), **hints(decision)}

    async def _gather(self, rhythm: Rhythm, run: RunInfo) -> JSON:
        try:
            facts = await rhythm.gather(run)
            json.dumps(facts)
        except Exception as exc:  # a phase boundary: the run is recorded failed, nothing else
            self._failed(run, "gather", exc)
        return facts

    async def _decide(self, rhythm: Rhythm, facts: JSON, row: RhythmRow,
                      run: RunInfo) -> Decision:
        try:
            return await rhythm.decide(facts, row.facts, run)
        except Exception as exc:  # a phase boundary, as for gather
            self._failed(run, "decide", exc)

    def _failed(self, run: RunInfo, phase: str, exc: Exception) -> NoReturn:
        reason = f"{phase} failed: {type(exc).__name__}: {exc}"
        log.warning("rhythm %s: %s", run.name, reason)
        with self._repo.store.transaction():
            self._finish(run, "failed", reason)
        raise Fail(f"rhythm {run.name}: {reason}", FailureClass.OTHER) from exc

    def _act(self, run: RunInfo, decision: Decision, mark: str, facts: JSON,
             outcome: RunOutcome) -> list[int]:
        base = fire_key(run.name, run.slot, run.manual)
        now = self._clock()
        with self._repo.store.transaction():
            ids = [self._submit(_keyed(spec, f"{base}:job:{i}"))
                   for i, spec in enumerate(decision.jobs)]
            if decision.apply is not None:
                ids += decision.apply()
            for i, notice in enumerate(decision.notices):
                self._repo.store.outbox_add(NOTICE_TOPIC, notice_payload(run.name, notice), now,
                                            job_id=run.job_id, dedupe_key=f"{base}:notice:{i}")
            self._repo.decided(run.name, mark, facts, run.slot, outcome, now)
            self._repo.finish_run(run.job_id, outcome, decision.reason, len(ids), now)
        return ids

    def _finish(self, run: RunInfo, outcome: RunOutcome, reason: str) -> None:
        now = self._clock()
        self._repo.ran(run.name, run.slot, outcome, now)
        self._repo.finish_run(run.job_id, outcome, reason, 0, now)


def hints(decision: Decision) -> dict[str, JSON]:
    """The fire's result as the judgment layer reads it: the report's text and weight, or an
    importance of nothing (the rhythm's notices, if any, went out as they are)."""
    report = decision.report
    if report is None:
        return {"importance": 0.0}
    return {"summary": report.text, "importance": report.importance, "urgent": report.urgent}


def _keyed(spec: JobSpec, key: str) -> JobSpec:
    """An act job with a key from its slot, so a retried fire finds it instead of a twin;
    whatever a rhythm submits is background work (origin ``rhythm``)."""
    return replace(spec, idempotency_key=spec.idempotency_key or key, origin=Origin.RHYTHM)


def notice_payload(rhythm: str, notice: Notice) -> dict[str, JSON]:
    """The outbox payload of a notice: ``text`` for every channel, an optional ``file``."""
    payload: dict[str, JSON] = {"text": notice.text, "rhythm": rhythm}
    if notice.urgent:
        payload["urgent"] = True
    if notice.attachment is not None:
        a = notice.attachment
        payload["file"] = {"name": a.name, "photo": a.photo,
                           "b64": base64.b64encode(a.content).decode("ascii")}
    return payload
