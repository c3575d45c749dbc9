"""The scheduler: fires due rhythms as jobs, records every slot, and sleeps until the next one.

A fire is a ``skill`` job (``{"skill": "rhythm", ...}``) with the idempotency key
``rhythm:<name>:<slot>``. The job, the slot's run row, the rows of slots missed and the move of
``next_fire_at`` commit in ONE transaction: a restart finds either all of it or none of it, so a
slot is never fired twice and never silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from engine.admission import AdmissionRefused
from engine.errors import StoreError
from engine.model import BackendName, JobSpec, Origin
from engine.store.base import Store
from rhythms.errors import RhythmError, UnknownRhythm
from rhythms.repo import Definition, RhythmRepo, RhythmRow, RunOutcome
from rhythms.rhythm import Rhythm, check_unique
from rhythms.schedule import Cron, label, next_after, parse_misfire, plan, slots_due

log = logging.getLogger("steward.rhythms")

FIRE_SKILL = "rhythm"
BACKSTOP_S = 10.0
"""The scheduler looks again at least this often (a pause, a resume, another process)."""
KEEP_RUNS_S = 90 * 86400.0
MANUAL_PRIORITY = 1
GONE = "no longer defined"

Submit = Callable[[JobSpec], int]
"""Enqueue a job and return its id: ``Engine.submit`` in the running process."""
Clock = Callable[[], float]


def fire_key(name: str, slot: float, manual: bool = False) -> str:
    return f"rhythm:{name}:{'run:' if manual else ''}{label(slot)}"


def fire_spec(name: str, slot: float, *, manual: bool, priority: int, key: str,
              timeout_s: float = 600.0) -> JobSpec:
    """The job one fire runs: the ``rhythm`` skill with the rhythm's name and slot."""
    return JobSpec(BackendName.SKILL, {"skill": FIRE_SKILL, "args": {
        "name": name, "slot": slot, "manual": manual}},
        priority=priority, origin=Origin.RHYTHM, idempotency_key=key,
        name=f"rhythm {name}", max_attempts=2, timeout_s=timeout_s)


class Desk:
    """What the owner's commands do to rhythms (list, pause, resume, run now): rows only, so
    the command line and the bot use it without the scheduler."""

    def __init__(self, store: Store, submit: Submit, clock: Clock = time.time) -> None:
        self.repo = RhythmRepo(store)
        self._submit = submit
        self._clock = clock

    def row(self, name: str) -> RhythmRow:
        found = self.repo.get(name.strip().lower())
        if found is None:
            raise UnknownRhythm(name, [r.name for r in self.repo.all()])
        return found

    def set_paused(self, name: str, paused: bool) -> RhythmRow:
        row = self.row(name)
        self.repo.set_paused(row.name, paused, None, self._clock())
        return self.row(row.name)

    def run_now(self, name: str, key: str | None = None) -> int:
        """Fire the rhythm now (even when paused): it gathers and always decides."""
        row = self.row(name)
        if row.disabled is not None:
            raise RhythmError(f"rhythm {row.name} cannot run here: {row.disabled}")
        now = self._clock()
        spec = fire_spec(row.name, now, manual=True, priority=MANUAL_PRIORITY,
                         key=key or fire_key(row.name, now, manual=True))
        with self.repo.store.transaction():
            job_id = self._submit(spec)
            if self.repo.run_of_job(job_id) is None:
                self.repo.add_run(row.name, now, "fired", now, manual=True, job_id=job_id,
                                  reason="run now")
        return job_id


class Scheduler:
    """Registers the rhythms' rows and fires their due slots by their misfire policies."""

    def __init__(self, store: Store, rhythms: Sequence[Rhythm], tz: str, submit: Submit,
                 clock: Clock = time.time, backstop_s: float = BACKSTOP_S) -> None:
        check_unique(rhythms)
        self._crons = {r.name: r.schedule(tz) for r in rhythms}  # bad config fails here
        self._rhythms = {r.name: r for r in rhythms}
        self.repo = RhythmRepo(store)
        self._submit = submit
        self._clock = clock
        self._backstop_s = backstop_s
        self._wake = asyncio.Event()

    def register(self) -> None:
        """Write the definitions to their rows in one transaction. A row keeps its planned
        slot unless its schedule changed, so a restart still sees the slots it missed."""
        now = self._clock()
        with self.repo.store.transaction():
            for name, rhythm in self._rhythms.items():
                self._register(rhythm, self._crons[name], now)
            for row in self.repo.all():
                if row.name not in self._rhythms and row.disabled != GONE:
                    self.repo.redefine(Definition(row.name, row.cron, row.tz, row.misfire,
                                                  row.about, GONE), None, now)
            self.repo.prune(now - KEEP_RUNS_S)

    def _register(self, rhythm: Rhythm, cron: Cron, now: float) -> None:
        d = Definition(rhythm.name, cron.expr, cron.tz, str(rhythm.misfire), rhythm.about,
                       rhythm.disabled)
        row = self.repo.get(rhythm.name)
        fresh = None if rhythm.disabled else next_after(cron, now)
        if row is None:
            self.repo.insert(d, fresh, now)
            return
        moved = (row.cron, row.tz) != (cron.expr, cron.tz) or row.next_fire_at is None
        keep = None if rhythm.disabled else (fresh if moved else row.next_fire_at)
        if (row.cron, row.tz, row.misfire, row.about, row.disabled, row.next_fire_at) != (
                d.cron, d.tz, d.misfire, d.about, d.disabled, keep):
            self.repo.redefine(d, keep, now)

    def wake(self) -> None:
        """Look again now (a rhythm was paused, resumed or run)."""
        self._wake.set()

    def fire_due(self) -> int:
        """Fire every due slot by its rhythm's policy; returns how many jobs were submitted."""
        now = self._clock()
        fired = 0
        for row in self.repo.due(now):
            if row.name in self._rhythms and row.next_fire_at is not None:
                fired += self._fire(row, row.next_fire_at, now)
        return fired

    def _fire(self, row: RhythmRow, planned: float, now: float) -> int:
        rhythm, cron = self._rhythms[row.name], self._crons[row.name]
        due, dropped = slots_due(cron, planned, now)
        upcoming = next_after(cron, max(due[-1], now))
        decided = plan(parse_misfire(row.misfire), due, now)
        run = None if row.paused else decided.run
        missed = [(s, "paused") for s in due] if row.paused else list(decided.missed)
        with self.repo.store.transaction():
            if not self.repo.advance(row.name, planned, upcoming, now):
                return 0  # another process moved it on
            if dropped:
                self.repo.add_run(row.name, planned, "missed", now,
                                  reason=f"{dropped} more slots before {label(due[0])} missed")
            outcome: RunOutcome = "skipped" if row.paused else "missed"
            for slot, reason in missed:
                self.repo.add_run(row.name, slot, outcome, now, reason=reason)
            if run is not None:
                try:
                    job_id = self._submit(fire_spec(row.name, run, manual=False,
                                                    priority=rhythm.priority,
                                                    key=fire_key(row.name, run),
                                                    timeout_s=rhythm.timeout_s))
                except AdmissionRefused as exc:  # a full disk: recorded, the next slot tries
                    self.repo.add_run(row.name, run, "skipped", now, reason=str(exc))
                    run = None
                else:
                    self.repo.add_run(row.name, run, "fired", now, job_id=job_id)
        if missed and not row.paused:
            log.warning("rhythm %s: %d slot(s) missed (%s)", row.name, len(missed) + dropped,
                        missed[-1][1])
        return int(run is not None)

    async def run(self, stop: asyncio.Event) -> None:
        """Fire due rhythms until ``stop`` is set, sleeping until the next due slot."""
        self.register()
        log.info("rhythms: %d registered, next at %s", len(self._rhythms), self._next_text())
        while not stop.is_set():
            self._wake.clear()
            try:
                self.fire_due()
            except StoreError as exc:  # busy for a moment: the next pass fires it
                log.warning("rhythms: the database refused a write (%s); trying again", exc)
            except Exception:  # the loop boundary: a bug must not end the schedule
                log.exception("rhythms: unexpected error; trying again")
            await self._sleep(stop)

    def delay_s(self) -> float:
        """How long to sleep: until the next due slot, at most the backstop."""
        upcoming = self.repo.next_due()
        if upcoming is None:
            return self._backstop_s
        return min(max(upcoming - self._clock(), 0.0), self._backstop_s)

    async def _sleep(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waits, timeout=self.delay_s(), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await w

    def _next_text(self) -> str:
        upcoming = self.repo.next_due()
        return "never" if upcoming is None else label(upcoming)

