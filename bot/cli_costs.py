"""``steward costs``: model spend per day and per tier and model, or the calls of one job."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, tzinfo

from bot import render
from bot.cli_kit import OK, Handler, emit, flags, opened, positive_int, width
from engine.gateway.costs import day_label
from engine.gateway.repo import CallRow, GatewayRepo
from engine.model import JSON


@dataclass(frozen=True, slots=True)
class Tally:
    """Calls and what they used and cost; ``input_tokens`` includes ``cached_tokens``."""

    calls: int = 0
    failures: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


def tally(rows: Iterable[CallRow]) -> Tally:
    t = Tally()
    for r in rows:
        t = Tally(t.calls + 1, t.failures + (r.outcome != "ok"),
                  t.input_tokens + r.usage.input_tokens, t.cached_tokens + r.usage.cached_tokens,
                  t.output_tokens + r.usage.output_tokens,
                  t.cost_usd + r.cost_usd + r.reserved_usd)
    return t


def last_days(days: int, now: float, zone: tzinfo) -> list[date]:
    """The last ``days`` calendar days in ``zone``, today last."""
    today = datetime.fromtimestamp(now, zone).date()
    return [today - timedelta(days=i) for i in reversed(range(days))]


def by_day(rows: Sequence[CallRow], days: int, now: float, zone: tzinfo) -> dict[str, Tally]:
    """One tally per day of the last ``days`` (today last), empty days included."""
    labels = [d.isoformat() for d in last_days(days, now, zone)]
    grouped: dict[str, list[CallRow]] = {label: [] for label in labels}
    for r in rows:
        grouped.setdefault(day_label(r.created_at, zone), []).append(r)
    return {label: tally(grouped[label]) for label in labels}


def by_model(rows: Sequence[CallRow]) -> dict[tuple[str, str], Tally]:
    """One tally per (tier, provider/model), dearest first."""
    grouped: dict[tuple[str, str], list[CallRow]] = {}
    for r in rows:
        grouped.setdefault((r.tier, f"{r.provider}/{r.model}"), []).append(r)
    tallies = {key: tally(group) for key, group in grouped.items()}
    return dict(sorted(tallies.items(), key=lambda kv: (-kv[1].cost_usd, kv[0])))


def usd(amount: float) -> str:
    return f"{amount:.4f}" if amount < 1 else f"{amount:.2f}"


def _cells(t: Tally) -> list[str]:
    return [str(t.calls), str(t.failures), str(t.input_tokens), str(t.cached_tokens),
            str(t.output_tokens), usd(t.cost_usd)]


NUMBERS = ["CALLS", "FAILED", "INPUT", "CACHED", "OUTPUT", "USD"]


def spend_text(days: dict[str, Tally], models: dict[tuple[str, str], Tally], zone: str,
               cap_usd: float, cols: int) -> str:
    """The report: a row per day, then a row per tier and model."""
    total = tally_of(days.values())
    day_rows = [[label, *_cells(t)] for label, t in days.items()]
    lines = [f"Model spend, last {len(days)} days (days in {zone}; cap ${cap_usd:.2f} a day; "
             "input includes cached tokens)", "",
             render.table(["DAY", *NUMBERS], [*day_rows, ["total", *_cells(total)]], cols)]
    if models:
        model_rows = [[tier, model, *_cells(t)] for (tier, model), t in models.items()]
        lines += ["", render.table(["TIER", "MODEL", *NUMBERS], model_rows, cols)]
    return "\n".join(lines)


def tally_of(tallies: Iterable[Tally]) -> Tally:
    t = Tally()
    for x in tallies:
        t = Tally(t.calls + x.calls, t.failures + x.failures, t.input_tokens + x.input_tokens,
                  t.cached_tokens + x.cached_tokens, t.output_tokens + x.output_tokens,
                  t.cost_usd + x.cost_usd)
    return t


def job_text(job_id: int, rows: Sequence[CallRow], cols: int) -> str:
    """Every model call of one job, and their total."""
    if not rows:
        return f"job {job_id} made no model calls"
    table = [[str(r.id), r.tier, f"{r.provider}/{r.model}", r.outcome,
              str(r.usage.input_tokens), str(r.usage.cached_tokens), str(r.usage.output_tokens),
              usd(r.cost_usd + r.reserved_usd)] for r in rows]
    total = tally(rows)
    return "\n".join([
        render.table(["CALL", "TIER", "MODEL", "OUTCOME", "INPUT", "CACHED", "OUTPUT", "USD"],
                     table, cols), "",
        f"job {job_id}: {total.calls} calls ({total.failures} failed), "
        f"{total.input_tokens} input tokens ({total.cached_tokens} cached), "
        f"{total.output_tokens} output, ${usd(total.cost_usd)}"])


def call_json(r: CallRow) -> dict[str, JSON]:
    return {"id": r.id, "job_id": r.job_id, "tier": r.tier, "provider": r.provider,
            "model": r.model, "outcome": r.outcome, "error": r.error,
            "input_tokens": r.usage.input_tokens, "cached_tokens": r.usage.cached_tokens,
            "cache_write_tokens": r.usage.cache_write_tokens,
            "output_tokens": r.usage.output_tokens, "latency_ms": r.latency_ms,
            "cost_usd": r.cost_usd, "reserved_usd": r.reserved_usd, "created_at": r.created_at}


def _costs(args: argparse.Namespace) -> int:
    with opened() as app:
        repo, settings = GatewayRepo(app.store), app.settings
        if args.job is not None:
            rows = repo.calls_of_job(args.job)
            emit(args, {"job_id": args.job, "total": asdict(tally(rows)),
                        "calls": [call_json(r) for r in rows]},
                 lambda: job_text(args.job, rows, width()))
            return OK
        now = time.time()
        first = last_days(args.days, now, settings.zone)[0]
        since = datetime.combine(first, datetime.min.time(), settings.zone).timestamp()
        rows = repo.calls_since(since)
    days, models = by_day(rows, args.days, now, settings.zone), by_model(rows)
    data = {"zone": settings.timezone, "cap_usd": settings.daily_spend_cap_usd,
            "days": [{"day": label, **asdict(t)} for label, t in days.items()],
            "models": [{"tier": tier, "model": model, **asdict(t)}
                       for (tier, model), t in models.items()]}
    emit(args, data, lambda: spend_text(days, models, settings.timezone,
                                        settings.daily_spend_cap_usd, width()))
    return OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> dict[str, Handler]:
    """Add ``steward costs``."""
    p = sub.add_parser("costs", help="model spend per day and per model; --job ID for one job")
    p.add_argument("--days", type=positive_int, default=7, metavar="N",
                   help="how many days back, today included (default 7)")
    p.add_argument("--job", type=int, metavar="ID", help="the model calls of one job")
    flags(p).set_defaults(command="costs")
    return {"costs": _costs}
