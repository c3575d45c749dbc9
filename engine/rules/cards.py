"""Decision-card callback data: ``card:<id>:<choice>``, packed and unpacked within 64 bytes.

Telegram refuses callback data over 64 bytes, so a card carries only its id and the key of the
choice; everything else lives in the card's row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CALLBACK_BYTES = 64
_CHOICE = re.compile(r"^[a-z0-9_-]{1,16}$")
_DATA = re.compile(r"^card:([1-9][0-9]{0,17}):([a-z0-9_-]{1,16})$")


@dataclass(frozen=True, slots=True)
class Tap:
    card_id: int
    choice: str


def valid_choice(key: str) -> bool:
    return bool(_CHOICE.match(key))


def pack(card_id: int, choice: str) -> str:
    """The callback data for a button; refuses anything that would not fit or parse back."""
    if card_id < 1 or not valid_choice(choice):
        raise ValueError(f"a card id must be positive and a choice 1-16 of [a-z0-9_-]: "
                         f"{card_id!r}, {choice!r}")
    data = f"card:{card_id}:{choice}"
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
    return data


def unpack(data: str | None) -> Tap | None:
    """The tap a callback carries, or None for data that is not ours (stale, forged, other)."""
    if not data or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    match = _DATA.match(data)
    return Tap(int(match.group(1)), match.group(2)) if match else None
