"""The DATA inbox: items from outside (forwards, e-mail, documents), filed once with their triage.

Channels (the bot) and rhythms (e-mail triage) both file here. Filing an item and submitting the
job that triages it happen in one transaction, and an item is keyed by where it came from (its
``request_key``), so a redelivered update or a re-fetched e-mail finds the item it already made.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from engine.loop import Engine
from engine.model import JSON, JobSpec
from engine.store.base import Store

KINDS = ("forward", "email", "document")
"""What an item may be (the table's check constraint)."""


@dataclass(frozen=True, slots=True)
class InboxItem:
    """DATA handed in from outside (a forward, an e-mail, a document), with where it came from."""

    kind: str
    source: str
    request_key: str
    origin: str
    body: str
    size_bytes: int
    provenance: dict[str, JSON]
    subject: str | None = None
    filename: str | None = None
    mime: str | None = None


@dataclass(frozen=True, slots=True)
class Filed:
    item_id: int
    job_id: int | None
    first_time: bool


Triage = Callable[[InboxItem, int], JobSpec]
"""Builds the job that triages an item, given the item and its id."""


class InboxRepo:
    """The inbox's rows; every method is one named query in ``engine/store/queries/inbox.sql``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def file(self, item: InboxItem, now: float) -> tuple[int, bool]:
        """Store an item once per ``request_key``; (id, created)."""
        rows = self._store.run("inbox_add", {
            "kind": item.kind, "source": item.source, "request_key": item.request_key,
            "origin": item.origin, "subject": item.subject, "filename": item.filename,
            "mime": item.mime, "body": item.body, "size_bytes": item.size_bytes,
            "provenance": json.dumps(item.provenance, ensure_ascii=False), "now": now})
        if rows:
            return int(rows[0][0]), True
        found = self._store.run("inbox_by_key", {"request_key": item.request_key})
        return int(found[0][0]), False

    def triaged_by(self, item_id: int, job_id: int) -> None:
        self._store.run("inbox_set_job", {"id": item_id, "job_id": job_id})

    def job_of(self, request_key: str) -> int | None:
        """The triage job of the item filed under ``request_key``, if it has one."""
        found = self._store.run("inbox_by_key", {"request_key": request_key})
        return None if not found or found[0][1] is None else int(found[0][1])

    def known(self, request_key: str) -> bool:
        """Whether an item was already filed under ``request_key``."""
        return bool(self._store.run("inbox_by_key", {"request_key": request_key}))


class Inbox:
    """Files DATA and submits its triage job in one transaction; filing the same item again
    finds the item (and job) it already made."""

    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._repo = InboxRepo(engine.store)
        self._clock = clock

    @property
    def repo(self) -> InboxRepo:
        return self._repo

    def file(self, item: InboxItem, triage: Triage | None) -> Filed:
        """File ``item``; with ``triage``, also submit (once) the job that triages it."""
        if item.kind not in KINDS:
            raise ValueError(f"an inbox item is one of {', '.join(KINDS)}, not {item.kind!r}")
        with self._engine.store.transaction():
            item_id, first = self._repo.file(item, self._clock())
            job_id = None if first else self._repo.job_of(item.request_key)
            if job_id is None and triage is not None:
                job_id = self._engine.submit(triage(item, item_id))
                self._repo.triaged_by(item_id, job_id)
        return Filed(item_id, job_id, first)
