"""Who may command: the owner alone, and trust that only ever narrows down a job tree."""

from __future__ import annotations

from security.risk import COMMAND, DATA, TRUSTS


def is_owner(sender_id: int | None, owner_id: int) -> bool:
    """True only for the configured owner; an anonymous sender is never the owner."""
    return sender_id is not None and owner_id > 0 and sender_id == owner_id


def inherit(parent_trust: str, requested: str = COMMAND) -> str:
    """The trust of a child job: DATA is sticky, so a child of a data job is data whatever it
    asks for; a command job may hand down command or data. Unknown values count as data."""
    parent = str(parent_trust)
    wanted = str(requested)
    if parent not in TRUSTS or wanted not in TRUSTS or DATA in (parent, wanted):
        return DATA
    return COMMAND
