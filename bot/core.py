"""What every channel of the bot shares: the engine, cards, the bot's rows, and the commands."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from bot.chat import chat_commands
from bot.commands import Command, Commands
from bot.commands_jobs import JobDesk, job_commands
from bot.commands_memory import MemorySource, later_commands, memory_commands
from bot.commands_rhythms import rhythm_commands
from bot.repo import BotRepo
from engine.cards import Cards
from engine.loop import Engine


@dataclass
class BotCore:
    """The collaborators of every handler, built once by the composition root."""

    engine: Engine
    llm: bool
    """An ``llm`` backend is registered: chat, /run and DATA triage can use a model."""
    memory: MemorySource | None = None
    spend_today: Callable[[], Awaitable[str]] | None = None
    clock: Callable[[], float] = time.time
    zone: tzinfo = UTC
    """The owner's time zone: what "today" means on /status."""
    cards: Cards = field(init=False)
    repo: BotRepo = field(init=False)

    def __post_init__(self) -> None:
        self.cards = Cards(self.engine.store, self.clock)
        self.repo = BotRepo(self.engine.store)

    def commands(self, poll_age: Callable[[], float | None] = lambda: None,
                 extra: Iterable[Command] = ()) -> Commands:
        """The full command set, with ``extra`` commands of one channel (the console's /tap)."""
        desk = JobDesk(self.engine, self.cards, self.repo, self.llm, self.clock, poll_age,
                       zone=self.zone)
        return Commands([*job_commands(desk), *chat_commands(self.engine.store),
                         *memory_commands(self.memory),
                         *later_commands(self.spend_today),
                         *rhythm_commands(self.engine, self.clock), *extra])
