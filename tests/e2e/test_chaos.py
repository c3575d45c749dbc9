"""A small chaos run: SIGKILLs, provider fault storms, Telegram errors and a full disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.chaos_kit import ChaosPlan, run_chaos


@pytest.mark.timeout(240)
async def test_chaos_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    report = await run_chaos(ChaosPlan(jobs=240, kills=4, chats_per_wave=2,
                                       settle_timeout_s=150), tmp_path)
    print(report.table())
    assert report.kills == 4
    assert report.disk_full_waves == 1
    assert report.lost == 0, report.table()
    assert report.repeated_effects == 0, report.table()
    assert report.answers_lost == 0, report.table()
    assert report.problems == [], report.table()
    assert report.answers_owed >= report.chats
    assert report.provider_faults > 0
    assert report.done >= report.submitted * 0.8
