"""How an attempt ended, as the loop records it, and running one attempt to find out."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from engine.errors import InvalidJob, StoreError
from engine.model import JSON, FailureClass, Job
from engine.rules import validate
from engine.signals import Fail, NeedsApproval, Retry
from engine.workers.backend import Backend, RunContext

log = logging.getLogger("steward.engine")


@dataclass(frozen=True, slots=True)
class Succeeded:
    result: JSON
    text: str
    """The result as JSON text: serialised once, when the attempt ends, so a value JSON cannot
    carry fails that attempt instead of the transaction that records it."""


@dataclass(frozen=True, slots=True)
class Failed:
    failure: FailureClass
    error: str
    transient: bool | None = None
    """None lets the failure class decide."""
    delay_s: float | None = None


@dataclass(frozen=True, slots=True)
class Cancelled:
    reason: str


@dataclass(frozen=True, slots=True)
class Released:
    """Handed back unfinished by a graceful shutdown."""


@dataclass(frozen=True, slots=True)
class Parked:
    action: str


Outcome = Succeeded | Failed | Cancelled | Released | Parked


def checked(job: Job, result: JSON) -> Outcome:
    """Success only for a result JSON can carry that matches the job's schema, if it has one."""
    try:
        text = validate.json_text(result, "the result")
    except InvalidJob as exc:
        return Failed(FailureClass.OTHER, str(exc), False)
    if job.output_schema is not None:
        problem = validate.output(result, job.output_schema)
        if problem:
            return Failed(FailureClass.OPTIMISTIC_COMPLETION, problem)
    return Succeeded(result, text)


async def attempt(backend: Backend | None, job: Job, ctx: RunContext) -> Outcome:
    """Run one attempt on its backend and say how it ended; never raises but for cancellation."""
    try:
        if backend is None:
            raise Fail(f"no {job.backend.value} backend is configured here",
                       FailureClass.INVALID_INPUT)
        if job.timeout_s and not backend.handles_timeout:
            result = await asyncio.wait_for(backend.run(job, ctx), job.timeout_s)
        else:
            result = await backend.run(job, ctx)
    except Retry as r:
        return Failed(r.failure_class, r.reason, True, r.delay_s)
    except Fail as f:
        return Failed(f.failure_class, f.reason, False)
    except NeedsApproval as n:
        return Parked(n.action)
    except TimeoutError:
        limit = f" after {job.timeout_s:g} s" if job.timeout_s else ""
        return Failed(FailureClass.TIMEOUT, f"timed out{limit}")
    except StoreError as exc:  # a full or failing disk under the job: worth another try
        log.warning("job %s attempt failed: %s", job.id, exc)
        return Failed(FailureClass.CRASH, f"the database failed: {exc}", transient=True)
    except Exception as exc:  # the loop boundary: record the attempt, keep the loop alive
        log.warning("job %s attempt failed: %s: %s", job.id, type(exc).__name__, exc)
        return Failed(FailureClass.OTHER, f"{type(exc).__name__}: {exc}")
    return checked(job, result)
