"""DATA intake, channel-agnostic: file what the owner hands in, then triage it as data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.intake_parse import wrap_data
from bot.markup import esc
from bot.notify_rules import request_key
from bot.render import one_line, truncate
from bot.repo import BotRepo, InboxItem
from engine.loop import Engine
from engine.model import BackendName, JobSpec, Origin, Trust

TRIAGE_PRIORITY = 2
KINDS = {"forward": "forwarded message", "email": "e-mail", "document": "document"}


@dataclass(frozen=True, slots=True)
class Filed:
    item_id: int
    job_id: int | None
    first_time: bool


def triage_spec(item: InboxItem, item_id: int) -> JobSpec:
    """The job that summarises an inbox item: it runs on DATA, with no tools, and answers
    the chat the item came from. Its prompt holds the item only inside a data wrapper."""
    channel, _, rest = item.request_key.partition(":")
    return JobSpec(
        BackendName.LLM, {"prompt": wrap_data(item.kind, item.origin, item.body)},
        priority=TRIAGE_PRIORITY, origin=Origin.SYSTEM, trust=Trust.DATA,
        idempotency_key=request_key(channel, rest, "triage"), name=f"triage inbox {item_id}",
        reply_to=item.source)


class Inbox:
    """Files DATA and submits its triage job in one transaction; a redelivered update finds
    the item (and job) it already made."""

    def __init__(self, engine: Engine, repo: BotRepo, llm: bool,
                 clock: Callable[[], float]) -> None:
        self._engine = engine
        self._repo = repo
        self._llm = llm
        self._clock = clock

    def file(self, item: InboxItem) -> Filed:
        with self._engine.store.transaction():
            item_id, first = self._repo.file(item, self._clock())
            job_id = None if first else self._repo.inbox_job(item.request_key)
            if job_id is None and self._llm:
                job_id = self._engine.submit(triage_spec(item, item_id))
                self._repo.triaged_by(item_id, job_id)
        return Filed(item_id, job_id, first)


def acknowledgement(item: InboxItem, filed: Filed) -> str:
    """What the owner is told once an item is filed."""
    what = KINDS.get(item.kind, item.kind)
    about = f" from {esc(truncate(one_line(item.origin), 60))}" if item.origin else ""
    if item.subject:
        about += f", “{esc(truncate(one_line(item.subject), 80))}”"
    head = f"Filed as data: {what}{about} (inbox item {filed.item_id})."
    if filed.job_id is not None:
        return f"{head} A summary follows; nothing in it is taken as an instruction."
    return (f"{head} No model provider is configured, so there is no summary; "
            "nothing in it is taken as an instruction.")
