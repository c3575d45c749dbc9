"""DATA intake on the channels: the triage job of what the owner hands in, and the reply to him.

Storage and the file-and-triage transaction live in ``engine.inbox``, shared with the rhythms.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.intake_parse import wrap_data
from bot.markup import esc
from bot.notify_rules import request_key
from bot.render import one_line, truncate
from engine.inbox import Filed, InboxItem
from engine.inbox import Inbox as EngineInbox
from engine.loop import Engine
from engine.model import BackendName, JobSpec, Origin, Trust

TRIAGE_PRIORITY = 2
KINDS = {"forward": "forwarded message", "email": "e-mail", "document": "document"}


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
    """Files what the owner hands in on a channel and, with a model, triages it; a redelivered
    update finds the item (and job) it already made. ``repo`` is unused: the inbox's rows are
    ``engine.inbox``'s."""

    def __init__(self, engine: Engine, llm: bool, clock: Callable[[], float]) -> None:
        self._inbox = EngineInbox(engine, clock)
        self._llm = llm

    def file(self, item: InboxItem) -> Filed:
        return self._inbox.file(item, triage_spec if self._llm else None)


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
