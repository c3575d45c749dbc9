"""``steward rhythm``: list the routines, run one now, pause or resume one."""

from __future__ import annotations

import argparse
import time

from bot import render
from bot.app import App, lock_holder
from bot.cli_kit import OK, Handler, emit, flags, opened, width
from bot.commands_rhythms import MISSED_WINDOW_S, state_text
from bot.errors import UsageError
from bot.rhythms_wiring import store_submit
from engine.model import JSON
from rhythms.errors import RhythmError
from rhythms.repo import RhythmRow
from rhythms.scheduler import Desk


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> dict[str, Handler]:
    """Add ``steward rhythm ...`` to the command line; returns its handlers."""
    rhythm = sub.add_parser("rhythm", help="list, run, pause and resume routines")
    rsub = rhythm.add_subparsers(dest="action", metavar="ACTION", required=True)
    flags(rsub.add_parser("list", help="every routine, its schedule and state"))
    for action, text in (("run", "run a routine now (a running `steward run` does it)"),
                         ("pause", "pause a routine"), ("resume", "resume a routine")):
        flags(rsub.add_parser(action, help=text)).add_argument("name", metavar="NAME")
    for name, parser in rsub.choices.items():
        parser.set_defaults(command=f"rhythm {name}")
    return {"rhythm list": _list, "rhythm run": _run, "rhythm pause": _pause,
            "rhythm resume": _resume}


def _desk(app: App) -> Desk:
    """The rows as the definitions say: registered here when no ``steward run`` is using the
    data dir (a running one registered them at its start)."""
    if app.rhythms is not None and lock_holder(app.settings.data_dir) is None:
        app.rhythms.scheduler.register()
    return Desk(app.store, store_submit(app.store))


def row_json(row: RhythmRow, missed: int) -> dict[str, JSON]:
    return {"name": row.name, "cron": row.cron, "tz": row.tz, "misfire": row.misfire,
            "about": row.about, "paused": row.paused, "disabled": row.disabled,
            "next_fire_at": row.next_fire_at, "last_outcome": row.last_outcome,
            "last_run_at": row.last_run_at, "missed_24h": missed}


def table(rows: list[RhythmRow], missed: dict[str, int], now: float, cols: int) -> str:
    if not rows:
        return "no rhythms registered"
    header = ["NAME", "SCHEDULE", "STATE", "LAST", "MISSED 24H"]
    body = [[r.name, r.cron, state_text(r),
             f"{r.last_outcome} {render.relative(r.last_run_at, now)}" if r.last_outcome
             else "-", str(missed.get(r.name, 0))] for r in rows]
    return render.table(header, body, cols)


def _list(args: argparse.Namespace) -> int:
    with opened() as app:
        desk = _desk(app)
        rows = desk.repo.all()
        now = time.time()
        missed = desk.repo.missed_since(now - MISSED_WINDOW_S)
    emit(args, [row_json(r, missed.get(r.name, 0)) for r in rows],
         lambda: table(rows, missed, now, width()))
    return OK


def _run(args: argparse.Namespace) -> int:
    with opened() as app:
        try:
            job_id = _desk(app).run_now(args.name)
        except RhythmError as exc:
            raise UsageError(str(exc)) from None
        note = "" if lock_holder(app.settings.data_dir) is not None else (
            "; no `steward run` is using this data dir, so it waits until one starts")
    emit(args, {"job": job_id},
         lambda: f"rhythm {args.name} queued as job {job_id}{note}")
    return OK


def _set(args: argparse.Namespace, paused: bool) -> int:
    with opened() as app:
        try:
            row = _desk(app).set_paused(args.name, paused)
        except RhythmError as exc:
            raise UsageError(str(exc)) from None
    state = "paused" if paused else state_text(row)
    emit(args, row_json(row, 0), lambda: f"rhythm {row.name}: {state}")
    return OK


def _pause(args: argparse.Namespace) -> int:
    return _set(args, True)


def _resume(args: argparse.Namespace) -> int:
    return _set(args, False)
