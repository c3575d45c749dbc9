"""Mail test kit: a real SMTP server (aiosmtpd) on loopback that records deliveries and can be
scripted to refuse or to hold, and a real engine with the mail skills on a real store."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller

from engine.cards import Card, Cards
from engine.loop import Engine, EngineConfig
from engine.model import BackendName, Job, JobSpec
from engine.rules.cards import Tap
from engine.store.sqlite import SqliteStore
from engine.workers.skill import SkillBackend
from skills.email_send import MailOutbox, Outgoing, SendPolicy
from skills.email_smtp import SmtpConfig
from skills.engine_link import EngineLink
from tests.fakes.clock import FakeClock

OWNER = "owner@example.org"
SENDER = "steward@example.org"
HOLD_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Delivery:
    sender: str
    recipients: list[str]
    content: bytes


@dataclass
class Sink:
    """The aiosmtpd handler: records what was accepted; scripted replies and holds."""

    delivered: list[Delivery] = field(default_factory=list)
    rcpt_replies: list[str] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    hold_at: Literal["rcpt", "data"] | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def _hold(self, where: str) -> None:
        if self.hold_at == where:
            self.arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, HOLD_S)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        await self._hold("rcpt")
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        self.delivered.append(Delivery(envelope.mail_from, list(envelope.rcpt_tos),
                                       bytes(envelope.original_content or envelope.content)))
        await self._hold("data")
        return "250 2.0.0 queued as 4711"


@contextmanager
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        sink.release.set()
        controller.stop()


def smtp_config(port: int, **kwargs: Any) -> SmtpConfig:
    return SmtpConfig("127.0.0.1", SENDER, port=port, starttls=False,
                      timeout_s=kwargs.pop("timeout_s", 5.0), **kwargs)


@dataclass
class Rig:
    """A real engine whose skill backend runs ``send_mail`` and ``mail_deliver``."""

    engine: Engine
    clock: FakeClock
    outbox: MailOutbox
    store: SqliteStore

    def ask(self, key: str = "ask-1", **args: Any) -> int:
        """The owner's job that calls ``send_mail`` with ``args``."""
        return self.engine.submit(JobSpec(BackendName.SKILL, {"skill": "send_mail",
                                                              "args": args},
                                          idempotency_key=key))

    async def queued(self, key: str = "ask-1", **args: Any) -> Outgoing:
        job_id = self.ask(key, **args)
        await self.engine.run_until_idle()
        result = await self.engine.result(job_id)
        return self.mail(int(result["mail_id"]))

    def mail(self, mail_id: int) -> Outgoing:
        found = self.outbox.repo.get(mail_id)
        assert found is not None
        return found

    def job(self, job_id: int | None) -> Job:
        assert job_id is not None
        return self.store.get_job(job_id)

    def card(self, mail: Outgoing) -> Card:
        assert mail.card_id is not None
        card = Cards(self.store, self.clock).get(mail.card_id)
        assert card is not None
        return card

    def tap(self, mail: Outgoing, choice: str) -> str:
        assert mail.card_id is not None
        return self.engine.resolve_card(Cards(self.store, self.clock),
                                        Tap(mail.card_id, choice)).outcome.value

    async def after(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.engine.run_until_idle()


def make_rig(data_dir: Path, port: int, clock: FakeClock | None = None,
             owner: str | None = OWNER, **smtp: Any) -> Rig:
    clock = clock or FakeClock()
    store = SqliteStore.open(data_dir / "steward.db")
    link = EngineLink(clock=clock)
    outbox = MailOutbox(link, smtp_config(port, **smtp), SendPolicy(owner))
    backend = SkillBackend({"send_mail": outbox.send_mail, **outbox.backend_skills()})
    engine = Engine(store, {BackendName.SKILL: backend},
                    EngineConfig(data_dir, retry_delays_s=(60.0, 60.0, 60.0, 60.0)), clock=clock)
    link.bind(engine)
    return Rig(engine, clock, outbox, store)
