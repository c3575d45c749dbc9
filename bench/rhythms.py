"""Rhythms' cost: model calls and tokens per simulated day, idle and busy, against a baseline.

Every built-in rhythm runs on its schedule for a simulated week on the real engine, gateway
(the official OpenAI SDK against a fake provider on 127.0.0.1), IMAP (a wire-level fake),
memory and judgment, with a clock the simulation moves (``tests/integration/test_rhythm_week``).
The baseline, in the same run, is the same rhythms asking a model at every fire whether
anything needs doing. The busy week has 8 owner requests, 20 e-mails (one urgent) and 12
project jobs (one failing) a day. Last line: JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as ``python bench/rhythms.py``, this file's folder comes first on sys.path, and its
# ``bot.py`` would shadow the ``bot`` package: put the repository there instead.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

from tests.integration.test_rhythm_week import Week, simulate  # noqa: E402

DAYS = 7


def per_day(week: Week, what: str) -> float:
    return sum(getattr(d, what) for d in week.days) / len(week.days)


def row(label: str, week: Week) -> str:
    calls = " ".join(f"{d.model_calls:>4}" for d in week.days)
    return (f"{label:<28} {calls}   {per_day(week, 'model_calls'):>7.1f} "
            f"{per_day(week, 'tokens'):>9.0f} {per_day(week, 'fires'):>6.0f}")


async def main() -> None:
    runs: dict[str, Week] = {}
    took: dict[str, float] = {}
    for name, busy, baseline in (("idle", False, False), ("busy", True, False),
                                 ("baseline (idle, model every fire)", False, True)):
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            runs[name] = await simulate(Path(folder), DAYS, busy=busy, baseline=baseline)
            took[name] = time.perf_counter() - started
    idle, busy, base = runs["idle"], runs["busy"], runs["baseline (idle, model every fire)"]
    head = " ".join(f"{'d' + str(i + 1):>4}" for i in range(DAYS))
    print(f"{'week':<28} {head}   {'calls/d':>7} {'tokens/d':>9} {'fires/d':>6}")
    for name, week in runs.items():
        print(row(name, week))
    print()
    print(f"busy week: {busy.owner_answered} of {busy.owner_asked} owner requests answered; "
          f"{busy.background_notified} of {busy.background_results} background results "
          f"notified ({busy.notify_rate:.1%}); judged results incl. silent rhythm fires: "
          f"{busy.judged_results}")
    print("simulated in " + ", ".join(f"{k.split(' ')[0]} {v:.1f} s" for k, v in took.items()))
    print(json.dumps({
        "idle_day_model_calls": per_day(idle, "model_calls"),
        "busy_day_model_calls": per_day(busy, "model_calls"),
        "baseline_day_model_calls": per_day(base, "model_calls"),
        "idle_day_tokens": per_day(idle, "tokens"),
        "busy_day_tokens": per_day(busy, "tokens"),
        "baseline_day_tokens": per_day(base, "tokens"),
        "background_notify_rate": round(busy.notify_rate, 4),
        "owner_requests_answered": f"{busy.owner_answered}/{busy.owner_asked}",
    }))


if __name__ == "__main__":
    asyncio.run(main())
