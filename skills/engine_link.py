"""The engine as the skills reach it: bound once the engine exists, since the skill backend is
built before the engine that runs it. Also the skills' own rows: approvals and spawn lineage."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from engine.cards import Card, Cards
from engine.loop import Engine
from engine.model import Job
from skills.errors import SkillUnavailable

SpawnKind = Literal["spawn", "proxy"]


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a job stands among the jobs skills made: the job that acts (a proxy acts for the
    job that asked for it) and how deep it is below a job nobody spawned."""

    acting_id: int
    depth: int


class EngineLink:
    """A late-bound handle on the engine; ``bind`` it once the engine is built."""

    def __init__(self, engine: Engine | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def bind(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise SkillUnavailable("the job engine is not running; try again once Steward "
                                   "has started")
        return self._engine

    def now(self) -> float:
        return self._clock()

    @property
    def cards(self) -> Cards:
        return Cards(self.engine.store, self._clock)

    def job(self, job_id: int) -> Job:
        return self.engine.store.get_job(job_id)

    def cards_of(self, job_id: int) -> list[Card]:
        """The decision cards opened for ``job_id``, oldest first."""
        rows = self.engine.store.run("skills_card_ids_of_job", {"job_id": job_id})
        cards = self.cards
        return [card for (card_id,) in rows if (card := cards.get(card_id)) is not None]

    def job_by_key(self, key: str) -> int | None:
        rows = self.engine.store.run("job_id_by_key", {"key": key})
        return int(rows[0][0]) if rows else None

    def lineage(self, job_id: int) -> Lineage:
        rows = self.engine.store.run("skills_spawn_get", {"child_id": job_id})
        if not rows:
            return Lineage(job_id, 0)
        parent, depth, kind = rows[0]
        return Lineage(int(parent) if kind == "proxy" else job_id, int(depth))

    def spawner_of(self, job_id: int) -> int | None:
        """The job that spawned ``job_id`` (or asked for it, for a proxy), if a skill made it."""
        rows = self.engine.store.run("skills_spawn_get", {"child_id": job_id})
        return int(rows[0][0]) if rows else None

    def spawned_by(self, job_id: int) -> int:
        """How many jobs ``job_id`` has spawned (proxies it asked for do not count)."""
        return int(self.engine.store.run("skills_spawn_count", {"parent_id": job_id})[0][0])

    def record(self, child_id: int, parent_id: int, depth: int, kind: SpawnKind) -> None:
        self.engine.store.run("skills_spawn_add", {
            "child_id": child_id, "parent_id": parent_id, "depth": depth, "kind": kind,
            "now": self._clock()})
