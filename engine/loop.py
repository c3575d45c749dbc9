"""The engine loop: claim by priority, dispatch to worker slots, record outcomes, settle.

A tick every ``tick_s`` is the backstop; enqueueing or finishing a job wakes the loop at once,
so latency never waits for the tick. Tests drive it with ``tick()`` and ``run_until_idle()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine import recording, resolver
from engine.admission import Admission, no_probe
from engine.cards import Cards, TapResult
from engine.errors import JobFailed, StoreError
from engine.model import (
    JSON,
    BackendName,
    FailureClass,
    Graph,
    Job,
    JobSpec,
    JobState,
)
from engine.outcomes import Cancelled, Failed, Outcome, Released, attempt
from engine.resolver import Changes
from engine.rules import claim, validate
from engine.rules import retry as retry_rule
from engine.rules.cards import Tap
from engine.store.base import Store
from engine.workers.backend import Backend, Effects, RunContext

log = logging.getLogger("steward.engine")

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    data_dir: Path
    slots: int = 20
    tick_s: float = 10.0
    stuck_s: float = 900.0
    aging_s: float = 30.0
    retry_delays_s: tuple[float, ...] = retry_rule.DEFAULT_DELAYS_S
    max_recoveries: int = 3
    grace_s: float = 30.0
    maintain_every_s: float = 0.5
    watch_every_s: float = 0.2
    checkpoint_every_s: float = 1.0
    store_retry_s: float = 1.0


@dataclass(slots=True)
class _Slot:
    job: Job
    task: asyncio.Task[None]
    stop_as: Outcome | None = None
    """Set before the task is cancelled: how its attempt is to be recorded."""


@dataclass(slots=True)
class _State:
    running: dict[int, _Slot] = field(default_factory=dict)
    outcomes: list[tuple[Job, Outcome]] = field(default_factory=list)
    waiters: dict[int, list[asyncio.Future[None]]] = field(default_factory=dict)
    beats: dict[int, float] = field(default_factory=dict)
    last_maintain: float = float("-inf")
    next_due: float = float("-inf")
    accepting: bool = True
    data_version: int = -1
    ticked_at: float = float("-inf")


class Engine:
    """Runs jobs from the store on the registered backends."""

    def __init__(self, store: Store, backends: Mapping[BackendName, Backend],
                 config: EngineConfig, clock: Clock = time.time,
                 admission: Admission | None = None) -> None:
        self.store = store
        self.config = config
        self.admission = admission or Admission(config.data_dir, probe=no_probe)
        """Refuses new background work while the disk is nearly full (``AdmissionRefused``);
        the composition root gives it the real disk, others admit everything."""
        self.run_id = uuid.uuid4().hex[:12]
        self._backends = dict(backends)
        self._clock = clock
        self._effects = Effects(store, clock)
        self._s = _State()
        self._wake = asyncio.Event()

    # -- submitting -----------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> int:
        """Enqueue one job (an existing idempotency key returns its job) and wake the loop."""
        validate.spec(spec)
        self.admission.check(spec.origin)
        job_id, _created = self.store.insert_job(resolver.new_job(spec, self._clock()))
        self._poke(spec)
        return job_id

    def submit_many(self, specs: list[JobSpec]) -> list[int]:
        """Enqueue independent jobs in one transaction."""
        for s in specs:
            validate.spec(s)
        for origin in {s.origin for s in specs}:
            self.admission.check(origin)
        now = self._clock()
        ids = self.store.insert_jobs([resolver.new_job(s, now) for s in specs])
        self._wake.set()
        return ids

    def submit_graph(self, graph: Graph) -> dict[str, int]:
        """Enqueue a compiled DAG (a pipeline or a promise chain) in one transaction."""
        for node in graph.nodes:
            if node.group is None:
                validate.spec(node.spec)
        for origin in {n.spec.origin for n in graph.nodes}:
            self.admission.check(origin)
        ids = resolver.enqueue(self.store, graph, self._clock())
        self._s.next_due = float("-inf")
        self._wake.set()
        return ids

    def _poke(self, spec: JobSpec) -> None:
        if spec.not_before is not None:
            self._s.next_due = min(self._s.next_due, spec.not_before)
        self._wake.set()

    async def result(self, job_id: int) -> JSON:
        """The job's result once it is done; raises ``JobFailed`` if it ends otherwise."""
        job = self.store.get_job(job_id)
        if not job.state.terminal:
            waiter = asyncio.get_running_loop().create_future()
            self._s.waiters.setdefault(job_id, []).append(waiter)
            await waiter
            job = self.store.get_job(job_id)
        if job.state is not JobState.DONE:
            raise JobFailed(job.id, job.state.value, job.error)
        return job.result

    def cancel(self, job_id: int, reason: str = "cancelled by the owner") -> None:
        self._after(resolver.cancel(self.store, job_id, self._clock(), reason))

    def retry(self, job_id: int) -> None:
        self._after(resolver.retry(self.store, job_id, self._clock()))
        self._s.next_due = float("-inf")
        self._wake.set()

    def approve(self, job_id: int) -> bool:
        approved = self.store.approve(job_id, self._clock())
        self._wake.set()
        return approved

    def resolve_card(self, cards: Cards, tap: Tap) -> TapResult:
        """Apply an owner's tap on a decision card and wake the loop for the job it frees."""
        result = cards.resolve(tap)
        self._s.last_maintain = float("-inf")  # a cancelled job's dependants settle next pass
        self._wake.set()
        return result

    # -- running --------------------------------------------------------------------------------

    @property
    def running(self) -> int:
        return len(self._s.running)

    @property
    def ticked_at(self) -> float:
        """When the loop last ticked (by the engine's clock): how a health check knows it lives."""
        return self._s.ticked_at

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then shut down gracefully."""
        self.recover()
        self.store.defer_checkpoints()
        watcher = asyncio.create_task(self._watch(stop))
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.tick()
                except StoreError as exc:  # locked or full for a while: outcomes stay queued
                    log.error("the database refused a write (%s); trying again", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.config.store_retry_s)
                    continue
                await self._sleep()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await self.shutdown()
            await asyncio.to_thread(self.store.checkpoint)

    async def _sleep(self) -> None:
        """Until woken, the next due job, or the tick; not at all if outcomes wait."""
        if self._s.outcomes or self._wake.is_set():
            return
        now = self._clock()
        until = min(now + self.config.tick_s, max(self._s.next_due, now))
        if self._s.running:
            until = min(until, now + self.config.maintain_every_s * 2)
        timer = asyncio.get_running_loop().call_later(max(until - now, 0.0), self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()

    async def _watch(self, stop: asyncio.Event) -> None:
        """Wake the loop when another process (the CLI) commits or ``stop`` is set, and
        checkpoint the WAL in a worker thread so commits on the loop never wait for the disk."""
        checkpoint_at = 0.0
        failing: str | None = None  # said once, not five times a second, until it clears
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.watch_every_s)
                try:
                    self._notice_others()
                    if time.monotonic() >= checkpoint_at:
                        await asyncio.to_thread(self.store.checkpoint)
                        checkpoint_at = time.monotonic() + self.config.checkpoint_every_s
                except StoreError as exc:  # a busy or failing disk must not end the watch
                    if str(exc) != failing:
                        log.warning("database watch: %s", exc)
                    failing = str(exc)
                else:
                    if failing is not None:
                        log.info("database watch: the database answers again")
                    failing = None
        finally:
            self._wake.set()  # however the watch ended, the loop must look at `stop` again

    def _notice_others(self) -> None:
        version = self.store.data_version()
        if version != self._s.data_version:
            self._s.data_version = version
            self._s.last_maintain = float("-inf")
            self._wake.set()

    async def tick(self) -> None:
        """One pass: housekeeping when due, then record outcomes and claim the next jobs in one
        transaction (one commit a pass is what makes the loop fast), then dispatch."""
        now = self._clock()
        self._s.ticked_at = now
        if now - self._s.last_maintain >= self.config.maintain_every_s or now >= self._s.next_due:
            self._maintain(now)
        changes, batch = Changes(), list(self._s.outcomes)
        if batch:
            with self.store.transaction():
                self._flush(batch, now, changes)
                claimed = self._claim(now, finishing=len(batch))
            self._forget(batch)  # only once the transaction committed: else they stay queued
        else:
            claimed = self._claim(now)
        self._after(changes)
        for job in claimed:
            task = asyncio.create_task(self._execute(job), name=f"job-{job.id}")
            self._s.running[job.id] = _Slot(job, task)
        await asyncio.sleep(0)

    async def run_until_idle(self) -> None:
        """Tick until nothing is running or runnable now (future-dated jobs are left waiting)."""
        while True:
            self._wake.clear()
            await self.tick()
            if self._s.running or self._s.outcomes:
                if not self._s.outcomes:
                    await self._wake.wait()
                continue
            if not self._runnable_now():
                return

    def _runnable_now(self) -> bool:
        counts = self.store.count_by_state()
        due = self.store.next_wakeup()
        return counts.get(JobState.READY, 0) > 0 or (
            due is not None and due <= self._clock() and counts.get(JobState.WAITING, 0) > 0)

    def _claim(self, now: float, finishing: int = 0) -> list[Job]:
        """Claim the most urgent ready jobs for the free slots (ageing lifts low lanes);
        ``finishing`` slots are being freed by the outcomes recorded in the same transaction."""
        free = self.config.slots - len(self._s.running) + finishing
        if free <= 0 or not self._s.accepting:
            return []
        candidates = self.store.candidates(free)
        if not candidates:
            return []
        ids = claim.pick(candidates, free, now, self.config.aging_s)
        return self.store.claim(ids, now, now + self.config.stuck_s)

    async def _execute(self, job: Job) -> None:
        ctx = RunContext(job, job.attempts, self.config.data_dir, self._effects,
                         lambda: self._s.beats.__setitem__(job.id, self._clock()),
                         lambda: self._releasing(job.id))
        try:
            outcome = await attempt(self._backends.get(job.backend), job, ctx)
        except asyncio.CancelledError:
            slot = self._s.running.get(job.id)
            outcome = (slot.stop_as if slot and slot.stop_as else Cancelled("cancelled"))
        self._s.outcomes.append((job, outcome))
        self._wake.set()

    def _flush(self, batch: recording.Batch, now: float, changes: Changes) -> None:
        due = recording.record(self.store, batch, now, self.run_id, self.config.retry_delays_s,
                               changes)
        if due is not None:
            self._s.next_due = min(self._s.next_due, due)

    def _forget(self, batch: list[tuple[Job, Outcome]]) -> None:
        del self._s.outcomes[: len(batch)]
        for job, _ in batch:
            self._s.running.pop(job.id, None)
            self._s.beats.pop(job.id, None)

    def _after(self, changes: Changes) -> None:
        """Act on a committed transaction: wake waiters, stop cancelled tasks."""
        for job_id in changes.settled:
            for waiter in self._s.waiters.pop(job_id, []):
                if not waiter.done():
                    waiter.set_result(None)
        for job_id, reason in changes.cancel_running:
            self._stop(job_id, Cancelled(reason))
        if changes.settled or changes.runnable:
            self._wake.set()

    def _releasing(self, job_id: int) -> bool:
        slot = self._s.running.get(job_id)
        return slot is not None and isinstance(slot.stop_as, Released)

    def _stop(self, job_id: int, outcome: Outcome) -> None:
        slot = self._s.running.get(job_id)
        if slot is not None and slot.stop_as is None:
            slot.stop_as = outcome
            slot.task.cancel()

    # -- housekeeping ---------------------------------------------------------------------------

    def _maintain(self, now: float) -> None:
        self._s.last_maintain = now
        self._flush_beats()
        expired = self.store.expired_leases(now)
        for job in expired:
            if job.id in self._s.running:
                silent = self.config.stuck_s / 60
                self._stop(job.id, Failed(FailureClass.TIMEOUT,
                                          f"silent for {silent:g} min: presumed stuck", True))
        self._take_back([j for j in expired if j.id not in self._s.running], now)
        for job_id in self.store.cancel_requested_running():
            self._stop(job_id, Cancelled("cancelled by the owner"))
        if now >= self._s.next_due:
            with self.store.transaction():
                self.store.promote_due(now)
            upcoming = self.store.next_wakeup()
            self._s.next_due = upcoming if upcoming is not None else float("inf")
        self._check_waiters()

    def _flush_beats(self) -> None:
        if self._s.beats:
            beats, self._s.beats = self._s.beats, {}
            self.store.extend_leases({j: t + self.config.stuck_s for j, t in beats.items()})

    def _check_waiters(self) -> None:
        """Jobs settled by another process (the CLI) still wake their waiters here."""
        for job_id in list(self._s.waiters):
            if self.store.get_job(job_id).state.terminal:
                self._after(Changes(settled=[job_id]))

    def recover(self) -> int:
        """Take back jobs left running by a process that died: run again, or dead-letter."""
        orphans = [j for j in self.store.running_jobs() if j.id not in self._s.running]
        self._take_back(orphans, self._clock())
        if orphans:
            log.info("recovered %d job(s) left running by a previous process", len(orphans))
        return len(orphans)

    def _take_back(self, orphans: list[Job], now: float) -> None:
        """Jobs marked running that no task of this process runs: at start, those of a dead
        process; later, any whose outcome was lost to a failed commit and whose lease ran out."""
        if not orphans:
            return
        changes = Changes()
        recording.recover(self.store, orphans, now, self.config.max_recoveries, changes)
        self._after(changes)
        self._wake.set()

    async def shutdown(self) -> None:
        """Stop claiming; let running jobs finish within the grace period; hand back the rest."""
        self._s.accepting = False
        tasks = [s.task for s in self._s.running.values()]
        if tasks:
            log.info("waiting up to %g s for %d running job(s)", self.config.grace_s, len(tasks))
            await asyncio.wait(tasks, timeout=self.config.grace_s)
        for job_id in list(self._s.running):
            self._stop(job_id, Released())
        left = [s.task for s in self._s.running.values()]
        if left:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*left, return_exceptions=True)
        if self._s.outcomes:
            changes, batch = Changes(), list(self._s.outcomes)
            self._flush(batch, self._clock(), changes)
            self._forget(batch)
            self._after(changes)
