"""Callback data for decision cards: within 64 bytes, and nothing else parses."""

from __future__ import annotations

import pytest

from engine.rules.cards import MAX_CALLBACK_BYTES, Tap, pack, unpack


@pytest.mark.parametrize(("card_id", "choice"), [(1, "yes"), (987654321012345678, "deny"),
                                                 (42, "a" * 16), (7, "snooze_1h")])
def test_round_trip(card_id: int, choice: str) -> None:
    data = pack(card_id, choice)
    assert len(data.encode()) <= MAX_CALLBACK_BYTES
    assert unpack(data) == Tap(card_id, choice)


@pytest.mark.parametrize(("card_id", "choice"), [(0, "yes"), (-3, "yes"), (1, ""),
                                                 (1, "a" * 17), (1, "Yes"), (1, "y:es")])
def test_pack_refuses_what_would_not_parse_back(card_id: int, choice: str) -> None:
    with pytest.raises(ValueError, match="card id must be positive"):
        pack(card_id, choice)


@pytest.mark.parametrize("data", [None, "", "card:1", "card:x:yes", "card:01:yes", "card:1:YES",
                                  "job:1:yes", "card:1:yes:extra", "card:1:" + "a" * 60,
                                  "cärd:1:yes"])
def test_stale_or_forged_data_is_not_ours(data: str | None) -> None:
    assert unpack(data) is None
