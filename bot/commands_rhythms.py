"""Commands about rhythms: /rhythms, /pause NAME, /resume NAME, /briefing."""

from __future__ import annotations

from collections.abc import Callable

from bot.commands import Command, Reply, Request, usage
from bot.markup import esc
from bot.render import relative
from engine.loop import Engine
from rhythms.errors import RhythmError
from rhythms.repo import RhythmRow
from rhythms.schedule import local_text
from rhythms.scheduler import Desk

MISSED_WINDOW_S = 86_400.0
BRIEFING = "briefing"


def rhythm_commands(engine: Engine, clock: Callable[[], float]) -> list[Command]:
    c = _RhythmCommands(Desk(engine.store, engine.submit, clock), clock)
    return [
        Command("rhythms", "/rhythms", "my scheduled routines", c.list),
        Command("pause", "/pause NAME", "pause a routine", c.pause),
        Command("resume", "/resume NAME", "resume a routine", c.resume),
        Command("briefing", "/briefing", "the morning briefing, now", c.briefing),
    ]


def state_text(row: RhythmRow) -> str:
    """A rhythm's state in a few words: off (and why), paused, or when it fires next."""
    if row.disabled is not None:
        return f"off: {row.disabled}"
    if row.paused:
        return "paused"
    if row.next_fire_at is None:
        return "not scheduled"
    return f"next {local_text(row.next_fire_at, row.tz)}"


class _RhythmCommands:
    def __init__(self, desk: Desk, clock: Callable[[], float]) -> None:
        self._desk = desk
        self._clock = clock

    async def list(self, request: Request, args: str) -> Reply:
        rows = self._desk.repo.all()
        if not rows:
            return Reply("No routines are registered yet; they appear once Steward runs.")
        now = self._clock()
        missed = self._desk.repo.missed_since(now - MISSED_WINDOW_S)
        lines = ["<b>Routines</b>"]
        for r in rows:
            last = (f"; last {esc(r.last_outcome)} {relative(r.last_run_at, now)}"
                    if r.last_outcome and r.last_run_at else "")
            gaps = f"; <b>{missed[r.name]} missed</b> in 24 h" if missed.get(r.name) else ""
            lines.append(f"<code>{esc(r.name)}</code> {esc(r.cron)} — "
                         f"{esc(state_text(r))}{last}{gaps}")
        lines.append("Pause one: /pause NAME · resume: /resume NAME")
        return Reply("\n".join(lines))

    async def pause(self, request: Request, args: str) -> Reply:
        return self._set(args, True)

    async def resume(self, request: Request, args: str) -> Reply:
        return self._set(args, False)

    def _set(self, args: str, paused: bool) -> Reply:
        verb = "pause" if paused else "resume"
        if not args.strip():
            return usage(f"/{verb} NAME", "NAME is a routine from /rhythms")
        try:
            row = self._desk.set_paused(args, paused)
        except RhythmError as exc:
            return Reply(f"{esc(exc)}.")
        if paused:
            return Reply(f"Paused <code>{esc(row.name)}</code>: it will not run until "
                         f"/resume {esc(row.name)}.")
        return Reply(f"Resumed <code>{esc(row.name)}</code>: {esc(state_text(row))}.")

    async def briefing(self, request: Request, args: str) -> Reply:
        try:
            self._desk.run_now(BRIEFING, key=f"rhythm:{BRIEFING}:run:{request.key}")
        except RhythmError as exc:
            return Reply(f"I can't brief you now: {esc(exc)}.")
        return Reply("Preparing your briefing; it arrives here in a moment.")
