"""Settling jobs: releasing dependants, resolving promise groups, cascading cancellations.

Every function here runs inside the caller's store transaction, so a state change and all it
causes (dependants released, groups resolved, outbox rows written) commit together.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from engine import judgment, selfheal
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
    judgment.judge(store, [judgment.Finish(job, state, result, None, error, failure)], now,
                   _enqueuer(store, now, changes))
    selfheal.on_finish(store, job, state, now, error, failure)
    changes.settled.append(job.id)


def _answer(store: Store, job: Job, state: JobState, now: float, result: JSON,
            error: str | None) -> None:
    """The owner's answer, in the same transaction as the state change that produced it."""
    store.outbox_add("job_finished", {
        "job_id": job.id, "name": job.name, "state": state.value, "result": result,
        "error": error,
    }, now, address=job.reply_to, job_id=job.id, dedupe_key=f"job:{job.id}:{job.attempts}")


def finish_done(store: Store, done: list[tuple[Job, JSON, str]], now: float,
                changes: Changes) -> None:
    """``finish`` for many successes at once, results already JSON text: the loop's hot path."""
    store.finish_done([(job.id, text) for job, _, text in done], now)
    for job, result, _ in done:
        if job.reply_to:
            _answer(store, job, JobState.DONE, now, result, None)
        changes.settled.append(job.id)
    judgment.judge_done(store, done, now, _enqueuer(store, now, changes))


def _enqueuer(store: Store, now: float, changes: Changes) -> judgment.Enqueue:
    """How the judgment layer adds a job (the model gate's) in the current transaction."""
    def enqueue(spec: JobSpec) -> bool:
        _job_id, created = store.insert_job(new_job(spec, now))
        changes.runnable += int(created)
        return created
    return enqueue


def settle(store: Store, settled: list[int], now: float, changes: Changes) -> None:
    """Tell the dependants of ``settled`` jobs; keep going while that settles more."""
    queue = deque(settled)
    while queue:
        batch = [queue.popleft() for _ in range(len(queue))]
        for child_id, (count, cause) in _by_child(store.children_of(batch)).items():
            before = len(changes.settled)
            evaluate(store, store.decrement_pending(child_id, count), now, changes, cause)
            queue.extend(changes.settled[before:])


def _by_child(edges: list[tuple[int, int, JobState]]) -> dict[int, tuple[int, JobState]]:
    """How many parents of each child settled, and the cause to judge by: a parent that did
    not end done outranks any number that did."""
    grouped: dict[int, tuple[int, JobState]] = {}
    for child, _parent, state in edges:
        count, cause = grouped.get(child, (0, JobState.DONE))
        grouped[child] = (count + 1, state if cause is JobState.DONE else cause)
    return grouped


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
    changes = Changes()
    with store.transaction():
        ids, created = _insert_nodes(store, graph, now)
        edges = [(ids[n.key], ids[r] if isinstance(r, str) else r, i, need.name)
                 for n in graph.nodes if n.key in created
                 for i, need in enumerate(n.needs) for r in (need.ref,)]
        store.insert_edges(edges)
        waiting = {ids[n.key]: len(n.needs) for n in graph.nodes
                   if n.key in created and (n.needs or n.group is not None)}
        store.recount_pending(list(waiting))
        # A job can move now only if some parent had already settled (a stored job it needs):
        # while every parent is pending, evaluating it would only re-read them all.
        for jid, needs in waiting.items():
            job = store.get_job(jid)
            if job.pending_deps < needs or needs == 0:
                evaluate(store, job, now, changes)
        settle(store, list(changes.settled), now, changes)
    return ids


def _insert_nodes(store: Store, graph: Graph, now: float) -> tuple[dict[str, int], set[str]]:
    """The id of every node, and the keys of the nodes inserted now (not found by key)."""
    rows = [new_job(n.spec, now, n.idx, n) for n in graph.nodes]
    if not any(r.idempotency_key for r in rows):
        ids = dict(zip((n.key for n in graph.nodes), store.insert_jobs(rows), strict=True))
        created = set(ids)
    else:
        ids, created = {}, set()
        for node, row in zip(graph.nodes, rows, strict=True):
            ids[node.key], fresh = store.insert_job(row)
            if fresh:
                created.add(node.key)
    for node in graph.nodes:
        if node.group is not None and node.key in created:
            store.insert_group(ids[node.key], node.group)
    return ids, created


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
