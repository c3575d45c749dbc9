"""Commands about the engine: /status, /jobs, /job, /run, /cancel, /retry, /workers, /card."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, tzinfo

from bot import render, render_chat, status_view
from bot.cards_view import keyboard, settled
from bot.channel import MessageRef
from bot.chat import NO_MODEL, ask_spec
from bot.commands import Command, Reply, Request, job_id_arg, usage
from bot.markup import esc
from bot.repo import BotRepo
from engine.cards import Cards
from engine.errors import EngineError, JobNotFound
from engine.loop import Engine
from engine.model import JobState
from engine.rules.transitions import Event, can
from engine.workers.sessions import SessionRepo

JOBS_SHOWN = 10


@dataclass(frozen=True, slots=True)
class JobDesk:
    """What the job commands work with."""

    engine: Engine
    cards: Cards
    repo: BotRepo
    llm: bool
    clock: Callable[[], float]
    poll_age: Callable[[], float | None] = lambda: None
    zone: tzinfo = UTC
    """The owner's time zone: where "today" begins for the notify rate."""


def job_commands(desk: JobDesk) -> list[Command]:
    c = _JobCommands(desk)
    return [
        Command("status", "/status", "jobs, decisions and notifications at a glance", c.status),
        Command("jobs", "/jobs [state]", "recent jobs", c.jobs),
        Command("job", "/job ID", "one job in detail", c.job),
        Command("run", "/run TEXT", "give the assistant a task; the answer comes here", c.run),
        Command("cancel", "/cancel ID", "cancel a job", c.cancel),
        Command("retry", "/retry ID", "run a failed or cancelled job again", c.retry),
        Command("workers", "/workers", "the configured workers", c.workers),
        Command("card", "/card ID", "show a decision card in full", c.card),
    ]


class _JobCommands:
    def __init__(self, desk: JobDesk) -> None:
        self._d = desk
        self._store = desk.engine.store

    async def status(self, request: Request, args: str) -> Reply:
        """The same picture as ``steward status`` (``bot.status_view``), as Telegram HTML."""
        engine = self._d.engine
        picture = status_view.gather(self._store, self._d.clock(), self._d.zone,
                                     engine.config.data_dir, admission=engine.admission.status(),
                                     poll_age_s=self._d.poll_age())
        return Reply(status_view.render(picture, html=True))

    async def jobs(self, request: Request, args: str) -> Reply:
        state = args.strip().lower().replace(" ", "_") or None
        if state is not None and state not in {s.value for s in JobState}:
            names = ", ".join(s.value for s in JobState)
            return usage("/jobs [state]", f"state is one of {names}")
        found = self._store.list_jobs(JOBS_SHOWN, "created", state)
        return Reply(render_chat.jobs(found, self._d.clock()))

    async def job(self, request: Request, args: str) -> Reply:
        job_id = job_id_arg(args)
        if job_id is None:
            return usage("/job ID", "ID is a job number, e.g. /job 12")
        try:
            found = self._store.get_job(job_id)
        except JobNotFound:
            return Reply(f"There is no job {job_id}. /jobs lists recent ones.")
        attempts = self._store.attempts_of(job_id)
        return Reply(render_chat.job(found, attempts, self._d.clock()))

    async def run(self, request: Request, args: str) -> Reply:
        if not args.strip():
            return usage("/run TEXT", "TEXT is the task, e.g. /run summarise my week")
        if not self._d.llm:
            return Reply(NO_MODEL)
        job_id = self._d.engine.submit(ask_spec(args, request, priority=2, name="run",
                                                recall=True))
        return Reply(f"Queued as job {job_id}; the answer will come here. "
                     f"/job {job_id} shows how it is going.")

    async def cancel(self, request: Request, args: str) -> Reply:
        job_id = job_id_arg(args)
        if job_id is None:
            return usage("/cancel ID", "ID is a job number, e.g. /cancel 12")
        try:
            found = self._store.get_job(job_id)
        except JobNotFound:
            return Reply(f"There is no job {job_id}.")
        if not can(found.state, Event.CANCEL):
            return Reply(f"Job {job_id} already ended ({found.state.value}); nothing to cancel.")
        self._d.engine.cancel(job_id)
        if self._store.get_job(job_id).state.terminal:
            return Reply(f"Job {job_id} cancelled.")
        return Reply(f"Job {job_id} is running; I asked it to stop.")

    async def retry(self, request: Request, args: str) -> Reply:
        job_id = job_id_arg(args)
        if job_id is None:
            return usage("/retry ID", "ID is a job number, e.g. /retry 12")
        try:
            self._d.engine.retry(job_id)
        except JobNotFound:
            return Reply(f"There is no job {job_id}.")
        except EngineError as exc:
            text = esc(str(exc))
            return Reply(f"{text[:1].upper()}{text[1:]}.")
        return Reply(f"Job {job_id} will run again.")

    async def workers(self, request: Request, args: str) -> Reply:
        return Reply(render.workers_html(SessionRepo(self._store).overview()))

    async def card(self, request: Request, args: str) -> Reply:
        card_id = job_id_arg(args)
        if card_id is None:
            return usage("/card ID", "ID is the number of a decision card")
        card = self._d.cards.get(card_id)
        if card is None:
            return Reply(f"There is no decision card {card_id}.")
        if card.state != "open":
            return Reply(settled(card))
        cards = self._d.cards

        def remember(ref: MessageRef) -> None:
            cards.shown(card_id, str(ref))

        return Reply(f"<b>Decision needed</b>\n{esc(card.question)}", keyboard(card), remember)
