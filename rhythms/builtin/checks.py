"""Hourly health and the twice-daily project scan: they speak only when what they see changed.

Gathered facts are problems as short sentences with their numbers put in buckets, so a queue
that moves from 120 to 130 jobs is not news, and a state that stays bad is said once.
Telegram's poll age is not in SQLite (the bot keeps it in memory), so health leaves it to
``/status`` and ``/healthz``.
"""

from __future__ import annotations

from collections import defaultdict

from engine.model import JSON, JobState
from rhythms.builtin.env import HOUR_S, Env, since_last
from rhythms.builtin.facts import ProjectJob
from rhythms.rhythm import Decision, Report, Rhythm, RunInfo, quiet
from rhythms.schedule import label, skip

QUEUE_WARN = 50
READY_STUCK_S = HOUR_S
LOW_DISK_GIB = 1.0
BIG_DB_GIB = 2.0
STALLED_S = 86_400.0
FAILING_AT = 2
SHOWN = 5


def bucket(n: float) -> str:
    """A count as its order of magnitude: 50+, 100+, 1,000+ …"""
    for floor in (100_000, 10_000, 1_000, 500, 100, 50):
        if n >= floor:
            return f"{floor:,}+"
    return str(int(n))


def health(env: Env, cron: str = "0 * * * *") -> Rhythm:
    """Queue depth, stuck jobs, open breakers, missed rhythm slots, disk and database size."""

    async def gather(run: RunInfo) -> JSON:
        return {"problems": sorted(problems(env, run))}

    async def decide(facts: JSON, previous: JSON, run: RunInfo) -> Decision:
        now_bad: list[str] = facts["problems"]
        before = previous["problems"] if isinstance(previous, dict) else []
        if now_bad:
            new = [p for p in now_bad if p not in before]
            head = "Health: " + ("; ".join(new or now_bad))
            rest = [p for p in now_bad if p not in new]
            text = head + (f" (still: {'; '.join(rest)})" if new and rest else "")
            return Decision("something needs attention", report=Report(text, 0.9))
        if before:
            return Decision("recovered", report=Report("Health: all clear again.", 0.4))
        return quiet("all healthy" if not run.manual else "all healthy (asked)")

    return Rhythm("health", cron, skip(), "hourly health: speaks only when something changed",
                  gather, decide)


def problems(env: Env, run: RunInfo) -> list[str]:
    facts, found = env.facts, []
    ready = env.store.count_by_state().get(JobState.READY, 0)
    if ready >= QUEUE_WARN:
        found.append(f"{bucket(ready)} jobs are queued to run")
    found += [f"job {i} ({name or 'unnamed'}) is stuck {state}"
              for i, name, state in facts.stuck(run.now, READY_STUCK_S)[:SHOWN]]
    found += [f"model {target}: breaker open" for target in facts.open_breakers()]
    since = since_last(run.last_run_at, run.slot, HOUR_S)
    found += [f"rhythm {name} missed {n} slot(s) since {label(since)}"
              for name, n in env.rhythms.missed_since(since).items()]
    free = facts.free_disk_gib()
    if free < LOW_DISK_GIB:
        found.append(f"disk nearly full: {free:.1f} GiB free")
    size = facts.database_gib()
    if size >= BIG_DB_GIB:
        found.append(f"database over {int(size)} GiB")
    return found


def project_scan(env: Env, cron: str = "0 9,17 * * *") -> Rhythm:
    """Stalled or failing jobs per project (a job's ``payload.project``)."""

    async def gather(run: RunInfo) -> JSON:
        since = since_last(run.last_run_at, run.slot, 12 * HOUR_S)
        return scan(env.facts.project_jobs(since), since, run.now)

    async def decide(facts: JSON, previous: JSON, run: RunInfo) -> Decision:
        if not facts:
            return quiet("no project has stalled or failing jobs")
        parts = []
        for project, seen in sorted(facts.items()):
            bits = [f"{len(seen[k])} {k} ({', '.join(map(str, seen[k][:SHOWN]))})"
                    for k in ("failed", "stalled") if seen[k]]
            parts.append(f"{project}: {'; '.join(bits)}")
        return Decision("projects need a look",
                        report=Report("Projects: " + " · ".join(parts), 0.85))

    return Rhythm("project-scan", cron, skip(), "project scan: stalled or failing jobs",
                  gather, decide)


def scan(jobs: list[ProjectJob], since: float, now: float) -> dict[str, dict[str, list[int]]]:
    """Per project, jobs stalled (not ended a day on) and, when there are ``FAILING_AT`` or
    more, the jobs that failed since ``since``: one failure the judgment layer has told
    already; a project failing again and again is news of its own."""
    found: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"failed": [], "stalled": []})
    for j in jobs:
        if j.state in (JobState.FAILED, JobState.DEAD) and (j.finished_at or 0) >= since:
            found[j.project]["failed"].append(j.id)
        elif not j.state.terminal and now - j.created_at >= STALLED_S:
            found[j.project]["stalled"].append(j.id)
    for seen in found.values():
        if len(seen["failed"]) < FAILING_AT:
            seen["failed"] = []
    return {p: seen for p, seen in found.items() if seen["failed"] or seen["stalled"]}
