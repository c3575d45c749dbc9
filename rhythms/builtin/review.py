"""The weekly review: costs, failure classes, the notify rate and suggestions, with a chart.

The chart (model cost and calls per day) is a PNG drawn by matplotlib's Agg backend, imported
only when a review is drawn, in a worker thread so the loop never waits for it.
"""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from engine.model import JSON
from rhythms.builtin.env import DAY_S, HOUR_S, Env
from rhythms.builtin.facts import day_bounds
from rhythms.rhythm import Attachment, Decision, Notice, Rhythm, RunInfo, quiet
from rhythms.schedule import catch_up_once

DAYS = 7
NOTIFY_TARGET = 0.05


def weekly_review(env: Env, cron: str = "0 18 * * 0") -> Rhythm:
    """Sunday 18:00; caught up once within 12 h if the process was down."""

    async def gather(run: RunInfo) -> JSON:
        facts = env.facts
        days = []
        for back in reversed(range(DAYS)):
            start, end = day_bounds(run.now, run.tz, back)
            calls, usd = facts.spend(start, min(end, run.now))
            days.append([datetime.fromtimestamp(start, ZoneInfo(run.tz)).strftime("%a %d"),
                         calls, round(usd, 4)])
        since = run.now - DAYS * DAY_S
        rate = env.judgments.notify_rate(since, run.now)
        return {"days": days, "failures": facts.failures_since(since),
                "notify": [rate.notified, rate.results],
                "missed": env.rhythms.missed_since(since)}

    async def decide(facts: JSON, previous: JSON, run: RunInfo) -> Decision:
        busy = any(calls for _, calls, _ in facts["days"]) or facts["failures"] or \
            facts["notify"][0]
        if not busy and not run.manual:
            return quiet("a quiet week: nothing to review")
        png = await asyncio.to_thread(chart, facts["days"])
        text = render(facts)
        return Decision("the weekly review", notices=(
            Notice(text, attachment=Attachment("weekly-review.png", png)),))

    return Rhythm("weekly-review", cron, catch_up_once(12 * HOUR_S),
                  "weekly review: costs, failures, notify rate, suggestions, chart",
                  gather, decide, priority=3)


def render(facts: JSON) -> str:
    calls = sum(c for _, c, _ in facts["days"])
    usd = sum(u for _, _, u in facts["days"])
    notified, results = facts["notify"]
    rate = f"{notified / results:.0%} ({notified} of {results})" if results else "no results"
    lines = ["Weekly review", f"Models: {calls} call(s), ${usd:.2f} this week.",
             f"Background results that notified you: {rate}."]
    failures = facts["failures"]
    if failures:
        lines.append("Failures: " + ", ".join(f"{k} {n}" for k, n in failures.items()))
    if facts["missed"]:
        lines.append("Missed routine runs: " + ", ".join(
            f"{k} {n}" for k, n in sorted(facts["missed"].items())))
    tips = suggestions(facts)
    if tips:
        lines += ["Suggestions:", *[f"  • {t}" for t in tips]]
    return "\n".join(lines)


def suggestions(facts: JSON) -> list[str]:
    """Plain rules over the week's figures; no model."""
    tips = []
    notified, results = facts["notify"]
    if results >= 20 and notified / results > NOTIFY_TARGET:
        tips.append(f"{notified / results:.0%} of background results notified you (target "
                    f"{NOTIFY_TARGET:.0%}): give noisy routines an importance below 0.8.")
    failures: dict[str, int] = facts["failures"]
    if failures.get("rate_limit", 0) >= 3:
        tips.append("Rate limits failed jobs: add a second model to the tiers you use.")
    if failures.get("timeout", 0) >= 3:
        tips.append("Jobs timed out: raise their timeout or split them.")
    if facts["missed"]:
        tips.append("Routines missed their slots: Steward was not running then; check the "
                    "host or its process manager.")
    spend = [u for _, _, u in facts["days"]]
    if len(spend) >= 2 and spend[-1] > 2 * max(sum(spend[:-1]) / (len(spend) - 1), 0.01):
        tips.append("Model spend today is more than twice the week's average: /costs shows "
                    "where it went.")
    return tips


def chart(days: list[list[JSON]]) -> bytes:
    """Model cost (bars) and calls (line) per day, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    labels = [str(d[0]) for d in days]
    fig = Figure(figsize=(7, 3.2), dpi=100)
    cost = fig.subplots()
    cost.bar(labels, [float(d[2]) for d in days], color="#4a78c2")
    cost.set_ylabel("USD")
    cost.set_title("Model cost and calls per day")
    calls = cost.twinx()
    calls.plot(labels, [int(d[1]) for d in days], color="#d0632a", marker="o")
    calls.set_ylabel("calls")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
