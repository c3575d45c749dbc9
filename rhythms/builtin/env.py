"""What the built-in rhythms are built with: the store, the owner's zone, and optional parts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.judgment import Judgments
from engine.store.base import Store
from rhythms.builtin.facts import Facts
from rhythms.repo import RhythmRepo

Clock = Callable[[], float]
DAY_S = 86_400.0
HOUR_S = 3_600.0


@dataclass(frozen=True)
class Env:
    """Shared by every built-in rhythm; ``llm`` says a model backend is there to run on."""

    store: Store
    data_dir: Path
    tz: str
    llm: bool = False
    clock: Clock = time.time

    @property
    def facts(self) -> Facts:
        return Facts(self.store, self.data_dir)

    @property
    def judgments(self) -> Judgments:
        return Judgments(self.store, self.clock)

    @property
    def rhythms(self) -> RhythmRepo:
        return RhythmRepo(self.store)


def since_last(last_run_at: float | None, slot: float, default_s: float) -> float:
    """Where "since last time" starts: the last decided run, or ``default_s`` before the slot."""
    return last_run_at if last_run_at is not None else slot - default_s


def clip(text: str | None, chars: int) -> str:
    """One line of at most ``chars`` characters."""
    line = " ".join((text or "").split())
    return line if len(line) <= chars else line[: chars - 1] + "…"
