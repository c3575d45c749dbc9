"""The morning briefing: overnight results, the digest, decisions waiting, today's schedule and
yesterday's model cost, in one message at 08:00. Silent on a morning with nothing to say."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from engine.model import JSON, JobState
from rhythms.builtin.env import DAY_S, HOUR_S, Env, clip, since_last
from rhythms.builtin.facts import day_bounds
from rhythms.rhythm import Decision, Notice, Rhythm, RunInfo, quiet
from rhythms.schedule import catch_up_once, next_after, parse_cron

NAME = "briefing"
SHOWN = 8


def briefing(env: Env, cron: str = "0 8 * * *") -> Rhythm:
    """08:00 in the owner's zone; a missed briefing is caught up once within 2 h, never later."""

    async def gather(run: RunInfo) -> JSON:
        facts = env.facts
        since = since_last(run.last_run_at, run.slot, DAY_S)
        ended = facts.finished(since, run.now)
        failed = [[f.id, f.name or f"job {f.id}", clip(f.error, 120)] for f in ended
                  if f.state in (JobState.FAILED, JobState.DEAD)]
        digest = [[j.job_id, clip(j.summary or j.name or f"job {j.job_id}", 200)]
                  for j in env.judgments.digest_since(since)]
        start, end = day_bounds(run.now, run.tz)
        due = [[i, name or f"job {i}", at] for i, name, at in facts.due(max(run.now, start), end)]
        y_start, y_end = day_bounds(run.now, run.tz, 1)
        calls, usd = facts.spend(y_start, y_end)
        return {"done": sum(f.state is JobState.DONE for f in ended), "failed": failed,
                "digest": digest, "due": due, "calls": calls, "usd": round(usd, 2),
                "cards": [[i, clip(q, 160), u] for i, q, u in facts.open_cards()]}

    async def decide(facts: JSON, previous: JSON, run: RunInfo) -> Decision:
        worth = facts["failed"] or facts["digest"] or facts["cards"] or facts["due"] or \
            facts["calls"]
        if not worth and not run.manual:
            return quiet("nothing to brief")
        return Decision("the morning briefing", notices=(Notice(render(env, facts, run)),))

    return Rhythm(NAME, cron, catch_up_once(2 * HOUR_S),
                  "morning briefing: results, digest, decisions, today, cost", gather, decide,
                  priority=2)


def render(env: Env, facts: JSON, run: RunInfo) -> str:
    """The briefing as plain text (the notifier escapes it)."""
    zone = ZoneInfo(run.tz)
    lines = [f"Good morning. Briefing for {datetime.fromtimestamp(run.now, zone):%A %d %B}."]
    failed = facts["failed"]
    lines.append(f"Since the last briefing: {facts['done']} job(s) done, {len(failed)} failed.")
    lines += [f"  ✗ {name} ({i}): {error}" for i, name, error in failed[:SHOWN]]
    if facts["digest"]:
        lines.append("Worth knowing:")
        lines += [f"  • {text}" for _, text in facts["digest"][:SHOWN]]
        lines += _more(len(facts["digest"]))
    if facts["cards"]:
        lines.append(f"Decisions waiting ({len(facts['cards'])}):")
        lines += [f"  ? {q}{' (urgent)' if u else ''} — /card {i}" for i, q, u in
                  facts["cards"][:SHOWN]]
    lines += _today(env, facts, run, zone)
    if facts["calls"]:
        lines.append(f"Models yesterday: {facts['calls']} call(s), ${facts['usd']:.2f}.")
    return "\n".join(lines)


def _today(env: Env, facts: JSON, run: RunInfo, zone: ZoneInfo) -> list[str]:
    """Today's schedule: delayed jobs due today, and the routines that will run."""
    lines = [f"  ◷ {datetime.fromtimestamp(at, zone):%H:%M} {name} ({i})"
             for i, name, at in facts["due"][:SHOWN]]
    _, end = day_bounds(run.now, run.tz)
    routines = [_routine(r.name, r.cron, r.tz, run.now, end, zone)
                for r in env.rhythms.all() if not r.paused and r.disabled is None]
    said = [r for r in routines if r]
    if said:
        lines.append(f"  Routines: {', '.join(said)}")
    return ["Today:", *lines] if lines else []


def _routine(name: str, cron: str, tz: str, now: float, end: float, zone: ZoneInfo) -> str:
    times: list[float] = []
    t = now
    while len(times) < 50 and (t := next_after(parse_cron(cron, tz), t)) < end:
        times.append(t)
    if not times:
        return ""
    if len(times) == 1:
        return f"{name} {datetime.fromtimestamp(times[0], zone):%H:%M}"
    return f"{name} {len(times)} times"


def _more(count: int) -> list[str]:
    return [f"  … and {count - SHOWN} more"] if count > SHOWN else []
