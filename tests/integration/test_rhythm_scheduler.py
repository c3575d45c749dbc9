"""The scheduler and the ``rhythm`` skill on a real engine and SQLite file, driven by a clock the
test moves: restarts, missed windows, DST days, pauses, run now, failing gathers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.loop import Engine, EngineConfig
from engine.model import JSON, BackendName, JobSpec, JobState
from engine.store.sqlite import SqliteStore
from engine.workers.backend import RunContext
from engine.workers.skill import SkillBackend
from rhythms.backend import RhythmSkill
from rhythms.errors import RhythmError, ScheduleError, UnknownRhythm
from rhythms.repo import RhythmRepo
from rhythms.rhythm import Decision, Notice, Rhythm, RunInfo, quiet
from rhythms.schedule import Misfire, catch_up_once, coalesce, label, skip
from rhythms.scheduler import FIRE_SKILL, Desk, Scheduler
from tests.fakes.clock import FakeClock

BERLIN = "Europe/Berlin"
HOUR = 3600.0


def berlin(*parts: int) -> float:
    return datetime(*parts, tzinfo=ZoneInfo(BERLIN)).timestamp()  # type: ignore[arg-type,misc]


@dataclass
class World:
    """What the test rhythms gather, and what they did."""

    value: JSON = 0
    gathered: int = 0
    decided: int = 0
    fail_gather: bool = False
    echoes: list[JSON] = field(default_factory=list)

    def rhythm(self, name: str, cron: str, misfire: Misfire, *, notice: bool = False) -> Rhythm:
        async def gather(run: RunInfo) -> JSON:
            self.gathered += 1
            if self.fail_gather:
                raise ConnectionError("the source is down")
            return {"value": self.value}

        async def decide(facts: JSON, previous: JSON, run: RunInfo) -> Decision:
            self.decided += 1
            if facts["value"] == 0 and not run.manual:
                return quiet("nothing yet")
            job = JobSpec(BackendName.SKILL, {"skill": "echo", "args": {"v": facts["value"]}})
            notices = (Notice(f"{name}: value {facts['value']}"),) if notice else ()
            return Decision("the value moved", jobs=(job,), notices=notices)

        return Rhythm(name, cron, misfire, f"test {name}", gather, decide)

    async def echo(self, args: dict[str, JSON], ctx: RunContext) -> JSON:
        self.echoes.append(args)
        return args


@dataclass
class Rig:
    path: Path
    clock: FakeClock
    world: World
    rhythms: list[Rhythm]
    store: SqliteStore = field(init=False)
    engine: Engine = field(init=False)
    scheduler: Scheduler = field(init=False)

    def __post_init__(self) -> None:
        self.open()

    def open(self) -> None:
        """(Re)start: a new store connection, engine, scheduler, as after a restart."""
        self.store = SqliteStore.open(self.path / "steward.db")
        skills = SkillBackend({"echo": self.world.echo})
        self.engine = Engine(self.store, {BackendName.SKILL: skills},
                             EngineConfig(data_dir=self.path), clock=self.clock)
        skills.register(FIRE_SKILL, RhythmSkill(RhythmRepo(self.store), self.rhythms,
                                                self.engine.submit, self.clock))
        self.scheduler = Scheduler(self.store, self.rhythms, BERLIN, self.engine.submit,
                                   self.clock)
        self.scheduler.register()

    def restart(self) -> None:
        self.store.close()
        self.open()

    @property
    def repo(self) -> RhythmRepo:
        return RhythmRepo(self.store)

    async def at(self, when: float) -> int:
        """Move the clock, fire what is due and run the engine until idle."""
        self.clock.now = when
        fired = self.scheduler.fire_due()
        await self.engine.run_until_idle()
        return fired

    def outcomes(self, name: str) -> list[tuple[str, str]]:
        runs = sorted(self.repo.recent(1000, name), key=lambda r: (r.slot, r.id))
        return [(label(r.slot), r.outcome) for r in runs]

    def fire_jobs(self) -> list[int]:
        return sorted(j.id for j in self.store.list_jobs(10_000)
                      if j.name and j.name.startswith("rhythm "))


@pytest.fixture
def world() -> World:
    return World()


def rig(tmp_path: Path, world: World, *rhythms: Rhythm, start: float) -> Rig:
    return Rig(tmp_path, FakeClock(start), world, list(rhythms))


async def test_fires_on_time_and_stops_at_an_unchanged_fingerprint(tmp_path: Path,
                                                                  world: World) -> None:
    r = rig(tmp_path, world, world.rhythm("tick", "0 * * * *", skip()),
            start=berlin(2025, 6, 2, 9, 30))
    assert r.repo.get("tick").next_fire_at == berlin(2025, 6, 2, 10, 0)  # type: ignore[union-attr]
    assert await r.at(berlin(2025, 6, 2, 9, 59)) == 0
    world.value = 1
    assert await r.at(berlin(2025, 6, 2, 10, 0, 5)) == 1
    assert world.echoes == [{"v": 1}]
    assert await r.at(berlin(2025, 6, 2, 11, 0)) == 1  # fired, but nothing changed
    assert world.decided == 1
    assert world.gathered == 2
    assert r.outcomes("tick") == [("2025-06-02T08:00Z", "acted"),
                                  ("2025-06-02T09:00Z", "unchanged")]
    fire = r.store.get_job(r.fire_jobs()[-1])
    assert fire.state is JobState.DONE
    assert fire.result["changed"] is False
    assert fire.idempotency_key == "rhythm:tick:2025-06-02T09:00Z"


async def test_a_restart_neither_double_fires_nor_drops_a_slot(tmp_path: Path,
                                                               world: World) -> None:
    world.value = 1
    r = rig(tmp_path, world, world.rhythm("tick", "0 * * * *", skip()),
            start=berlin(2025, 6, 2, 9, 30))
    r.clock.now = berlin(2025, 6, 2, 10, 0, 1)
    assert r.scheduler.fire_due() == 1  # fired; the process dies before the job runs
    r.restart()
    assert r.scheduler.fire_due() == 0  # the slot is known: no second fire
    r.engine.recover()
    await r.engine.run_until_idle()
    assert world.echoes == [{"v": 1}]
    assert len(r.fire_jobs()) == 1

    # a fire whose transaction fails leaves nothing behind; the next pass fires the slot
    r.clock.now = berlin(2025, 6, 2, 11, 0, 1)

    def broken(spec: JobSpec) -> int:
        raise OSError("disk gone")

    submit, r.scheduler._submit = r.scheduler._submit, broken
    with pytest.raises(OSError, match="disk gone"):
        r.scheduler.fire_due()
    assert r.repo.get("tick").next_fire_at == berlin(2025, 6, 2, 11, 0)  # type: ignore[union-attr]
    r.scheduler._submit = submit
    assert r.scheduler.fire_due() == 1
    assert r.outcomes("tick")[-1] == ("2025-06-02T09:00Z", "fired")


async def test_briefing_is_caught_up_once_within_two_hours(tmp_path: Path, world: World) -> None:
    world.value = 1
    brief = world.rhythm("brief", "0 8 * * *", catch_up_once(2 * HOUR), notice=True)
    r = rig(tmp_path, world, brief, start=berlin(2025, 6, 1, 12, 0))
    r.restart()  # down from before 08:00 until 09:30, three days running
    assert await r.at(berlin(2025, 6, 2, 9, 30)) == 1
    assert r.outcomes("brief") == [("2025-06-02T06:00Z", "acted")]
    world.value = 2
    assert await r.at(berlin(2025, 6, 3, 10, 30)) == 0  # 2.5 h late: missed, not run
    missed = [x for x in r.repo.recent(10, "brief") if x.outcome == "missed"]
    assert [label(x.slot) for x in missed] == ["2025-06-03T06:00Z"]
    assert "catch-up window" in (missed[0].reason or "")
    assert r.repo.missed_since(0) == {"brief": 1}
    assert await r.at(berlin(2025, 6, 4, 8, 0)) == 1  # the next one is on time
    texts = [row.payload["text"] for row in r.store.outbox_pending(10)]
    assert texts == ["brief: value 1", "brief: value 2"]


async def test_coalesce_runs_once_for_many_missed_slots(tmp_path: Path, world: World) -> None:
    world.value = 3
    r = rig(tmp_path, world, world.rhythm("tidy", "0 * * * *", coalesce()),
            start=berlin(2025, 6, 2, 0, 30))
    assert await r.at(berlin(2025, 6, 2, 5, 20)) == 1
    outcomes = r.outcomes("tidy")
    assert [o for _, o in outcomes] == ["missed"] * 4 + ["acted"]
    assert outcomes[-1][0] == "2025-06-02T03:00Z"


@pytest.mark.parametrize(("cron", "day", "fires", "first"), [
    ("*/30 * * * *", (2025, 3, 30), 46, "2025-03-29T23:00Z"),   # 23-hour day
    ("*/30 * * * *", (2025, 10, 26), 50, "2025-10-25T22:00Z"),  # 25-hour day
    ("30 2 * * *", (2025, 3, 30), 1, "2025-03-30T01:00Z"),      # 02:30 → 03:00 CEST
    ("30 2 * * *", (2025, 10, 26), 1, "2025-10-26T00:30Z"),     # first 02:30 only
])
async def test_dst_days_in_berlin(tmp_path: Path, world: World, cron: str,
                                  day: tuple[int, int, int], fires: int, first: str) -> None:
    world.value = 1
    r = rig(tmp_path, world, world.rhythm("r", cron, skip()), start=berlin(*day) - 1)
    end = berlin(day[0], day[1], day[2] + 1)
    t = r.clock.now
    while t < end - 1:
        t += 300
        r.clock.now = t
        r.scheduler.fire_due()
    runs = sorted(r.repo.recent(1000, "r"), key=lambda x: x.slot)
    assert all(x.outcome == "fired" for x in runs)
    assert len(runs) == fires
    assert label(runs[0].slot) == first
    assert len({x.slot for x in runs}) == fires


async def test_paused_slots_are_skipped_and_resume_fires_again(tmp_path: Path,
                                                               world: World) -> None:
    world.value = 1
    r = rig(tmp_path, world, world.rhythm("tick", "0 * * * *", skip()),
            start=berlin(2025, 6, 2, 9, 30))
    desk = Desk(r.store, r.engine.submit, r.clock)
    assert desk.set_paused("TICK", True).paused
    assert await r.at(berlin(2025, 6, 2, 10, 0)) == 0
    assert r.outcomes("tick") == [("2025-06-02T08:00Z", "skipped")]
    desk.set_paused("tick", False)
    assert await r.at(berlin(2025, 6, 2, 11, 0)) == 1
    assert world.echoes == [{"v": 1}]
    with pytest.raises(UnknownRhythm, match="known: tick"):
        desk.set_paused("nope", True)


async def test_run_now_always_decides(tmp_path: Path, world: World) -> None:
    r = rig(tmp_path, world, world.rhythm("tick", "0 * * * *", skip(), notice=True),
            start=berlin(2025, 6, 2, 9, 30))
    desk = Desk(r.store, r.engine.submit, r.clock)
    job_id = desk.run_now("tick")
    assert desk.run_now("tick", key=f"rhythm:tick:run:{label(r.clock.now)}") == job_id
    await r.engine.run_until_idle()
    assert world.decided == 1  # value 0 decides "quiet" unless manual: manual acts
    assert world.echoes == [{"v": 0}]
    run = r.repo.run_of_job(job_id)
    assert run is not None
    assert run.manual
    assert run.outcome == "acted"
    desk.set_paused("tick", True)
    r.clock.advance(60)
    desk.run_now("tick")  # a paused rhythm can still be run now
    await r.engine.run_until_idle()
    assert world.decided == 2


async def test_a_failing_gather_is_a_failed_run_and_the_next_is_unaffected(
        tmp_path: Path, world: World) -> None:
    world.value, world.fail_gather = 1, True
    r = rig(tmp_path, world, world.rhythm("tick", "0 * * * *", skip()),
            start=berlin(2025, 6, 2, 9, 30))
    await r.at(berlin(2025, 6, 2, 10, 0))
    fire = r.store.get_job(r.fire_jobs()[-1])
    assert fire.state is JobState.FAILED
    assert fire.error == ("rhythm tick: gather failed: ConnectionError: the source is down")
    runs = r.repo.recent(5, "tick")
    assert runs[0].outcome == "failed"
    assert "the source is down" in (runs[0].reason or "")
    world.fail_gather = False
    await r.at(berlin(2025, 6, 2, 11, 0))
    assert r.outcomes("tick")[-1] == ("2025-06-02T09:00Z", "acted")
    assert world.echoes == [{"v": 1}]


def test_bad_definitions_fail_at_registration(tmp_path: Path, world: World) -> None:
    store = SqliteStore.open(tmp_path / "steward.db")
    try:
        with pytest.raises(ScheduleError, match="rhythm bad: invalid cron expression"):
            Scheduler(store, [world.rhythm("bad", "0 25 * * *", skip())], BERLIN,
                      lambda spec: 0)
        with pytest.raises(ScheduleError, match="unknown time zone"):
            Scheduler(store, [world.rhythm("ok", "0 8 * * *", skip())], "Nowhere/Land",
                      lambda spec: 0)
        with pytest.raises(ScheduleError, match="registered twice"):
            Scheduler(store, [world.rhythm("a", "0 8 * * *", skip())] * 2, BERLIN,
                      lambda spec: 0)
    finally:
        store.close()


async def test_a_changed_schedule_moves_the_next_fire_and_a_removed_rhythm_stops(
        tmp_path: Path, world: World) -> None:
    r = rig(tmp_path, world, world.rhythm("tick", "0 * * * *", skip()),
            start=berlin(2025, 6, 2, 9, 30))
    r.rhythms[:] = [world.rhythm("tick", "0 12 * * *", skip())]
    r.restart()
    row = r.repo.get("tick")
    assert row is not None
    assert row.next_fire_at == berlin(2025, 6, 2, 12, 0)
    r.rhythms[:] = []
    r.restart()
    gone = r.repo.get("tick")
    assert gone is not None
    assert gone.disabled == "no longer defined"
    assert gone.next_fire_at is None
    with pytest.raises(RhythmError, match="cannot run here: no longer defined"):
        Desk(r.store, r.engine.submit, r.clock).run_now("tick")
