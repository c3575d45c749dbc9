"""Settling jobs: releasing dependants, resolving promise groups, cascading cancellations.

Every function here runs inside the caller's store transaction, so a state change and all it
causes (dependants released, groups resolved, outbox rows written) commit together.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from engine.errors import EngineError, TemplateError
from engine.model import (
    JSON,
    BackendName,
    FailureClass,
    Graph,
    GroupKind,
    Job,
    JobSpec,
    JobState,
    Node,
)
from engine.rules import promises, templates, validate
from engine.rules.transitions import Event, can
from engine.store.base import Store
from engine.store.records import NewJob, ParentRow


@dataclass
class Changes:
    """What a transaction did that the running loop must act on after it commits."""

    settled: list[int] = field(default_factory=list)
    cancel_running: list[tuple[int, str]] = field(default_factory=list)
    runnable: int = 0

    def merge(self, other: Changes) -> None:
        self.settled += other.settled
        self.cancel_running += other.cancel_running
        self.runnable += other.runnable


def finish(store: Store, job: Job, state: JobState, now: float, changes: Changes, *,
           result: JSON = None, error: str | None = None,
           failure: FailureClass | None = None) -> None:
    """Write a terminal state, and the owner's answer to the outbox when one is owed."""
    store.finish_job(job.id, state, now, result=result, error=error, failure=failure)
    if job.reply_to:
        _answer(store, job, state, now, result, error)
    changes.settled.append(job.id)


def _answer(store: Store, job: Job, state: JobState, now: float, result: JSON,
            error: str | None) -> None:
    """The owner's answer, in the same transaction as the state change that produced it."""
    store.outbox_add("job_finished", {
        "job_id": job.id, "name": job.name, "state": state.value, "result": result,
        "error": error,
    }, now, address=job.reply_to, job_id=job.id, dedupe_key=f"job:{job.id}:{job.attempts}")


def finish_done(store: Store, done: list[tuple[Job, JSON]], now: float,
                changes: Changes) -> None:
    """``finish`` for many successes at once: the loop's hot path."""
    store.finish_done([(job.id, result) for job, result in done], now)
    for job, result in done:
        if job.reply_to:
            _answer(store, job, JobState.DONE, now, result, None)
        changes.settled.append(job.id)


def settle(store: Store, settled: list[int], now: float, changes: Changes) -> None:
    """Tell the dependants of ``settled`` jobs; keep going while that settles more."""
    queue = deque(settled)
    while queue:
        batch = [queue.popleft() for _ in range(len(queue))]
        causes: dict[int, JobState] = {}
        for child_id, parent_id in store.children_of(batch):
            if parent_id not in causes:
                causes[parent_id] = store.get_job(parent_id).state
            store.decrement_pending(child_id)
            before = len(changes.settled)
            evaluate(store, store.get_job(child_id), now, changes, causes[parent_id])
            queue.extend(changes.settled[before:])


def evaluate(store: Store, job: Job, now: float, changes: Changes,
             cause: JobState | None = None) -> None:
    """Move a waiting job on if its parents allow: resolve a group, release or block a job.
    ``cause`` is how the parent that prompted this ended; None means "look at everything"."""
    if job.state is not JobState.WAITING:
        return
    if job.backend is BackendName.GROUP:
        kind = store.group_kind(job.id)
        if kind is None:
            raise EngineError(f"group job {job.id} has no promise_groups row")
        if cause is None or promises.may_settle(kind, job.pending_deps, cause):
            _resolve_group(store, job, kind, now, changes)
    elif job.pending_deps == 0 or (cause is not None and cause is not JobState.DONE):
        _release(store, job, now, changes)


def _resolve_group(store: Store, job: Job, kind: GroupKind, now: float,
                   changes: Changes) -> None:
    members = [promises.Member(p.job_id, p.idx, p.state, p.result, p.error, p.finished_at)
               for p in store.parents(job.id)]
    resolution = promises.resolve(kind, members)
    if resolution is None:
        return
    store.mark_group_settled(job.id, now)
    if resolution.fulfilled:
        finish(store, job, JobState.DONE, now, changes, result=resolution.result)
    else:
        finish(store, job, JobState.FAILED, now, changes, error=resolution.error,
               failure=FailureClass.DEPENDENCY)
    for loser in resolution.cancel:
        cancel_one(store, store.get_job(loser), now, "lost the race", changes)


def _release(store: Store, job: Job, now: float, changes: Changes) -> None:
    parents = store.parents(job.id)
    verdict = promises.readiness([p.state for p in parents])
    if verdict is promises.Readiness.WAIT:
        return
    if verdict is promises.Readiness.BLOCKED:
        failed = next(p for p in parents if p.state is not JobState.DONE)
        finish(store, job, JobState.CANCELLED, now, changes,
               error=f"not run: job {failed.job_id} it depends on ended {failed.state.value}",
               failure=FailureClass.DEPENDENCY)
        return
    lists = len(parents) == 1 and store.group_kind(parents[0].job_id) in LIST_GROUPS
    try:
        rendered = templates.render(store.template_of(job.id),
                                    context(parents, job.idx, single_is_list=lists))
    except TemplateError as exc:
        finish(store, job, JobState.FAILED, now, changes, error=str(exc),
               failure=FailureClass.INVALID_INPUT)
        return
    store.make_runnable(job.id, rendered, now)
    changes.runnable += 1


LIST_GROUPS = frozenset({GroupKind.ALL, GroupKind.ALL_SETTLED})
"""Groups whose result is the list of their members' results."""


def context(parents: list[ParentRow], idx: int | None, *,
            single_is_list: bool = False) -> dict[str, JSON]:
    """Template variables for a job: its parents' results, and its index among siblings.
    After an ``all``/``allSettled`` group (``single_is_list``), ``all_results`` is the group's
    list; otherwise it is the list of the parents' results, whatever they hold."""
    results = [p.result for p in parents]
    single = results[0] if len(results) == 1 else results
    ctx: dict[str, JSON] = {
        "prev_result": single,
        "all_results": single if single_is_list else results,
        "index": idx,
    }
    for p in parents:
        if p.name:
            ctx[p.name] = p.result
    return ctx


def cancel_one(store: Store, job: Job, now: float, reason: str, changes: Changes) -> None:
    """Cancel one job (a running one is asked to stop; it settles when its task ends)."""
    if not can(job.state, Event.CANCEL):
        return
    if job.state is JobState.RUNNING:
        store.request_cancel(job.id)
        changes.cancel_running.append((job.id, reason))
        return
    finish(store, job, JobState.CANCELLED, now, changes, error=reason)
    if job.backend is BackendName.GROUP:
        for p in store.parents(job.id):
            cancel_one(store, store.get_job(p.job_id), now, f"group {job.id} cancelled", changes)


def cancel(store: Store, job_id: int, now: float, reason: str) -> Changes:
    """Cancel a job or a whole group, and everything that waited on it."""
    changes = Changes()
    with store.transaction():
        cancel_one(store, store.get_job(job_id), now, reason, changes)
        settle(store, list(changes.settled), now, changes)
    return changes


def retry(store: Store, job_id: int, now: float) -> Changes:
    """Run a finished job again, and every finished job below it; results above are reused."""
    changes = Changes()
    with store.transaction():
        job = store.get_job(job_id)
        if not can(job.state, Event.RETRY):
            raise EngineError(f"job {job_id} is {job.state.value}; only a failed, cancelled "
                              "or dead job can be retried")
        blocked = [p for p in store.parents(job_id) if p.state.terminal
                   and p.state is not JobState.DONE and job.backend is not BackendName.GROUP]
        if blocked:
            raise EngineError(f"job {job_id} cannot run: job {blocked[0].job_id} it depends on "
                              f"ended {blocked[0].state.value}; retry that one instead")
        below = store.descendants(job_id)
        reset = [job_id] + [d.id for d in below if d.state.terminal]
        store.reset_for_retry(reset, now)
        # The owner asked for another go: an effect left unfinished or failed may run again.
        store.effects_clear_unfinished(reset)
        store.recount_pending([d.id for d in below] + [job_id])
        for jid in reset:
            evaluate(store, store.get_job(jid), now, changes)
        settle(store, list(changes.settled), now, changes)
    return changes


def enqueue(store: Store, graph: Graph, now: float) -> dict[str, int]:
    """Store a whole graph in one transaction; returns the job id of every node key."""
    ids: dict[str, int] = {}
    changes = Changes()
    with store.transaction():
        waiting: list[int] = []
        for node in graph.nodes:
            job_id, created = store.insert_job(new_job(node.spec, now, node.idx, node))
            ids[node.key] = job_id
            if not created:
                continue
            if node.group is not None:
                store.insert_group(job_id, node.group)
            for i, need in enumerate(node.needs):
                parent = ids[need.ref] if isinstance(need.ref, str) else need.ref
                store.insert_edge(job_id, parent, i, need.name)
            if node.needs or node.group is not None:
                waiting.append(job_id)
        store.recount_pending(waiting)
        for jid in waiting:
            evaluate(store, store.get_job(jid), now, changes)
        settle(store, list(changes.settled), now, changes)
    return ids


def new_job(spec: JobSpec, now: float, idx: int | None = None, node: Node | None = None) -> NewJob:
    """The row for a spec: ready at once when it needs nothing and is due, else waiting.
    A standalone job's payload is taken verbatim; a fan-out member's is rendered with its index."""
    not_before = spec.not_before if spec.not_before is not None else now
    runnable = node is None or (not node.needs and node.group is None)
    payload = validate.json_text(spec.payload, "payload")
    rendered: str | None = None
    if runnable:
        rendered = payload if idx is None else validate.json_text(
            templates.render(spec.payload, {"index": idx}), "payload")
    ready = runnable and not_before <= now
    return NewJob(
        backend=spec.backend.value,
        state=JobState.READY.value if ready else JobState.WAITING.value,
        payload=payload, input=rendered,
        priority=spec.priority, origin=spec.origin.value, trust=spec.trust.value,
        idempotency_key=spec.idempotency_key, not_before=not_before,
        max_attempts=spec.max_attempts, timeout_s=spec.timeout_s,
        output_schema=None if spec.output_schema is None else validate.json_text(
            spec.output_schema, "output_schema"),
        name=spec.name, reply_to=spec.reply_to, worker=spec.worker,
        created_at=now, ready_at=now if ready else None, pending_deps=0, idx=idx,
    )
