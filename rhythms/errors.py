"""Errors of the rhythms.

RhythmError
├── ScheduleError      an invalid cron expression, an unknown time zone or misfire policy
├── UnknownRhythm      no rhythm of that name is registered
└── GatherFailed       a rhythm's gather step raised: the run is recorded failed
"""

from __future__ import annotations


class RhythmError(Exception):
    """Root of every error the rhythms raise on purpose."""


class ScheduleError(RhythmError):
    pass


class UnknownRhythm(RhythmError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        listed = ", ".join(known) or "none"
        super().__init__(f"no rhythm called {name!r}; known: {listed}")


class GatherFailed(RhythmError):
    pass
