"""The rhythms' repository: rhythm rows and their runs, over named queries in ``rhythms.sql``."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Literal

from engine.model import JSON
from engine.store.base import Store

RunOutcome = Literal["fired", "acted", "quiet", "unchanged", "failed", "skipped", "missed"]


@dataclass(frozen=True, slots=True)
class RhythmRow:
    """A registered rhythm as stored: schedule, pause, next planned slot, last input."""

    name: str
    cron: str
    tz: str
    misfire: str
    about: str
    paused: bool
    disabled: str | None
    next_fire_at: float | None
    fingerprint: str | None
    facts: JSON
    last_slot: float | None
    last_outcome: str | None
    last_run_at: float | None


@dataclass(frozen=True, slots=True)
class RunRow:
    """One slot of one rhythm: fired (and how its run ended), skipped or missed."""

    id: int
    rhythm: str
    slot: float
    manual: bool
    outcome: RunOutcome
    reason: str | None
    job_id: int | None
    acted_jobs: int
    created_at: float
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class Definition:
    """What registration writes: the schedule as configured now."""

    name: str
    cron: str
    tz: str
    misfire: str
    about: str
    disabled: str | None


class RhythmRepo:
    """One method per named query; callers hold the transaction when several go together."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> RhythmRow | None:
        rows = self.store.run("rhythm_get", {"name": name})
        return _rhythm(rows[0]) if rows else None

    def all(self) -> list[RhythmRow]:
        return [_rhythm(r) for r in self.store.run("rhythm_list")]

    def insert(self, d: Definition, next_fire_at: float | None, now: float) -> None:
        self.store.run("rhythm_insert", {**_definition(d), "next_fire_at": next_fire_at,
                                         "now": now})

    def redefine(self, d: Definition, next_fire_at: float | None, now: float) -> None:
        self.store.run("rhythm_redefine", {**_definition(d), "next_fire_at": next_fire_at,
                                           "now": now})

    def due(self, now: float) -> list[RhythmRow]:
        return [_rhythm(r) for r in self.store.run("rhythm_due", {"now": now})]

    def next_due(self) -> float | None:
        value = self.store.run("rhythm_next_due")[0][0]
        return None if value is None else float(value)

    def advance(self, name: str, planned: float, next_fire_at: float, now: float) -> bool:
        """Move the next planned slot on, only if it is still ``planned`` (compare and set)."""
        return bool(self.store.run("rhythm_advance", {
            "name": name, "planned": planned, "next_fire_at": next_fire_at, "now": now}))

    def set_paused(self, name: str, paused: bool, next_fire_at: float | None,
                   now: float) -> bool:
        return bool(self.store.run("rhythm_set_paused", {
            "name": name, "paused": int(paused), "next_fire_at": next_fire_at, "now": now}))

    def decided(self, name: str, fingerprint: str, facts: JSON, slot: float,
                outcome: RunOutcome, now: float) -> None:
        self.store.run("rhythm_decided", {
            "name": name, "fingerprint": fingerprint, "slot": slot, "outcome": outcome,
            "facts": json.dumps(facts, ensure_ascii=False, sort_keys=True), "now": now})

    def ran(self, name: str, slot: float, outcome: RunOutcome, now: float) -> None:
        self.store.run("rhythm_ran", {"name": name, "slot": slot, "outcome": outcome,
                                      "now": now})

    def add_run(self, rhythm: str, slot: float, outcome: RunOutcome, now: float, *,
                manual: bool = False, reason: str | None = None,
                job_id: int | None = None) -> bool:
        """Record a slot once; False when it was recorded before (a restart found it)."""
        return bool(self.store.run("rhythm_run_add", {
            "rhythm": rhythm, "slot": slot, "manual": int(manual), "outcome": outcome,
            "reason": reason, "job_id": job_id, "now": now}))

    def finish_run(self, job_id: int, outcome: RunOutcome, reason: str | None,
                   acted_jobs: int, now: float) -> None:
        self.store.run("rhythm_run_finish", {"job_id": job_id, "outcome": outcome,
                                             "reason": reason, "acted_jobs": acted_jobs,
                                             "now": now})

    def run_of_job(self, job_id: int) -> RunRow | None:
        rows = self.store.run("rhythm_run_of_job", {"job_id": job_id})
        return _run(rows[0]) if rows else None

    def recent(self, limit: int, rhythm: str | None = None) -> list[RunRow]:
        return [_run(r) for r in self.store.run("rhythm_runs_recent",
                                                {"rhythm": rhythm, "limit": limit})]

    def runs_since(self, since: float) -> list[RunRow]:
        return [_run(r) for r in self.store.run("rhythm_runs_since", {"since": since})]

    def missed_since(self, since: float) -> dict[str, int]:
        """Missed slots per rhythm recorded since ``since``."""
        return {r["rhythm"]: int(r["n"]) for r in self.store.run("rhythm_missed_since",
                                                                {"since": since})}

    def prune(self, before: float) -> None:
        self.store.run("rhythm_runs_prune", {"before": before})


def _definition(d: Definition) -> dict[str, object]:
    return {"name": d.name, "cron": d.cron, "tz": d.tz, "misfire": d.misfire, "about": d.about,
            "disabled": d.disabled}


def _rhythm(r: sqlite3.Row) -> RhythmRow:
    return RhythmRow(r["name"], r["cron"], r["tz"], r["misfire"], r["about"], bool(r["paused"]),
                     r["disabled"], r["next_fire_at"], r["fingerprint"],
                     None if r["facts"] is None else json.loads(r["facts"]), r["last_slot"],
                     r["last_outcome"], r["last_run_at"])


def _run(r: sqlite3.Row) -> RunRow:
    return RunRow(r["id"], r["rhythm"], r["slot"], bool(r["manual"]), r["outcome"], r["reason"],
                  r["job_id"], r["acted_jobs"], r["created_at"], r["finished_at"])
