"""What the built-in rhythms read when they gather: jobs, cards, spend, breakers, disk."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from engine.cards import Cards
from engine.gateway.repo import GatewayRepo
from engine.model import JobState
from engine.store.base import Store

GIB = 1 << 30


@dataclass(frozen=True, slots=True)
class Finished:
    id: int
    name: str | None
    state: JobState
    origin: str
    error: str | None
    failure: str | None


@dataclass(frozen=True, slots=True)
class ProjectJob:
    id: int
    project: str
    name: str | None
    state: JobState
    failure: str | None
    created_at: float
    finished_at: float | None


class Facts:
    """Read-only lookups over the store, one named query (``rhythms.sql``) or port each."""

    def __init__(self, store: Store, data_dir: Path) -> None:
        self.store = store
        self.data_dir = data_dir

    def finished(self, since: float, until: float) -> list[Finished]:
        """Jobs that ended in ``[since, until)``, rhythm fires and the judge's jobs aside."""
        return [Finished(r["id"], r["name"], JobState(r["state"]), r["origin"], r["error"],
                         r["failure_class"])
                for r in self.store.run("rhythm_jobs_finished", {"since": since, "until": until})]

    def due(self, start: float, end: float) -> list[tuple[int, str | None, float]]:
        """Delayed jobs (``not_before``) that become due in ``[start, end)``."""
        return [(r["id"], r["name"], r["not_before"])
                for r in self.store.run("rhythm_jobs_due", {"start": start, "end": end})]

    def stuck(self, now: float, ready_for_s: float) -> list[tuple[int, str | None, str]]:
        """Running jobs past their lease, and ready jobs nobody claimed for ``ready_for_s``."""
        return [(r["id"], r["name"], r["state"]) for r in self.store.run(
            "rhythm_jobs_stuck", {"now": now, "ready_before": now - ready_for_s})]

    def project_jobs(self, since: float) -> list[ProjectJob]:
        return [ProjectJob(r["id"], str(r["project"]), r["name"], JobState(r["state"]),
                           r["failure_class"], r["created_at"], r["finished_at"])
                for r in self.store.run("rhythm_project_jobs", {"since": since})]

    def failures_since(self, since: float) -> dict[str, int]:
        return {r["failure"]: int(r["n"])
                for r in self.store.run("rhythm_failures_since", {"since": since})}

    def memory_counts(self) -> dict[str, int]:
        row = self.store.run("rhythm_memory_counts")[0]
        return {"memories": int(row["memories"]), "last_memory": int(row["last_memory"]),
                "last_core_edit": int(row["last_core_edit"])}

    def open_cards(self) -> list[tuple[int, str, bool]]:
        return [(c.id, c.question, c.urgent)
                for c in Cards(self.store, lambda: 0.0).pending()]

    def open_breakers(self) -> list[str]:
        """Models whose breaker is not closed (``provider/model``)."""
        return sorted(k for k, h in GatewayRepo(self.store).health().items()
                      if h.phase.value != "closed")

    def spend(self, since: float, until: float) -> tuple[int, float]:
        """Model calls made in ``[since, until)`` and what they cost."""
        calls = [c for c in GatewayRepo(self.store).calls_since(since) if c.created_at < until]
        return len(calls), sum(c.cost_usd + c.reserved_usd for c in calls)

    def free_disk_gib(self) -> float:
        return shutil.disk_usage(self.data_dir).free / GIB

    def database_gib(self, name: str = "steward.db") -> float:
        path = self.data_dir / name
        sizes = [p.stat().st_size for p in (path, path.with_name(name + "-wal")) if p.exists()]
        return sum(sizes) / GIB


def day_bounds(now: float, tz: str, days_back: int = 0) -> tuple[float, float]:
    """Midnight to midnight of the owner's day ``days_back`` days before ``now``'s (DST-safe)."""
    zone = ZoneInfo(tz)
    day = datetime.fromtimestamp(now, zone).date() - timedelta(days=days_back)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start.timestamp(), end.timestamp()
