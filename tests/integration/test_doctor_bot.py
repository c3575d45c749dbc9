"""``steward doctor`` on Telegram (the fake Bot API on loopback) and on memory, changing nothing."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from bot import doctor_checks
from bot.doctor import doctor
from bot.render import Check
from bot.settings import Settings, load_settings
from memory.core import FILE_NAME
from tests.fakes.telegram_server import FakeTelegram

OWNER = 4242


def settings_for(monkeypatch: pytest.MonkeyPatch, data_dir: Path, **env: str) -> Settings:
    monkeypatch.setenv("STEWARD_DATA_DIR", str(data_dir))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_get_me_names_the_bot_and_never_the_token(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeTelegram()
    await fake.start()
    try:
        good = settings_for(monkeypatch, tmp_path, STEWARD_TELEGRAM_TOKEN=fake.token,
                            STEWARD_TRUSTED_USER_ID=str(OWNER),
                            STEWARD_TELEGRAM_BASE_URL=fake.base_url)
        ok = await asyncio.to_thread(doctor_checks.telegram, good)
        wrong = settings_for(monkeypatch, tmp_path, STEWARD_TELEGRAM_TOKEN="999:wrong-token-xyz")
        refused = await asyncio.to_thread(doctor_checks.telegram, wrong)
        checks = by_name(await asyncio.to_thread(doctor, good))
    finally:
        await fake.stop()
    assert ok.status == "ok"
    assert ok.detail == f"bot @steward_test_bot answers at {fake.base_url}; owner {OWNER}"
    assert refused.status == "fail"
    assert "refused the token (401 Unauthorized)" in refused.detail
    assert "wrong-token-xyz" not in refused.detail
    assert checks["telegram"].status == "ok"
    assert all(fake.token not in c.detail for c in checks.values())
    assert [s.method for s in fake.sent] == []  # getMe only: nothing was sent


def test_an_unreachable_bot_api_fails_fast_without_the_token(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(monkeypatch, tmp_path, STEWARD_TELEGRAM_TOKEN="123:secret-abc",
                            STEWARD_TRUSTED_USER_ID=str(OWNER),
                            STEWARD_TELEGRAM_BASE_URL=f"http://127.0.0.1:{closed_port()}")
    check = doctor_checks.telegram(settings)
    assert check.status == "fail"
    assert check.detail.startswith("getMe at http://127.0.0.1:")
    assert "secret-abc" not in check.detail


def test_no_token_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEWARD_TELEGRAM_TOKEN", raising=False)
    check = doctor_checks.telegram(settings_for(monkeypatch, tmp_path))
    assert (check.status, check.detail) == (
        "warn", "no STEWARD_TELEGRAM_TOKEN: the console channel only (`steward chat`)")


def test_memory_checks_report_and_change_nothing(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    settings = settings_for(monkeypatch, data)
    data.mkdir()
    fresh = by_name(doctor_checks.checks(settings))
    assert fresh["core memory"].status == "warn"
    assert fresh["memory index"].status == "warn"
    assert fresh["memory index"].detail.startswith("not built yet")
    assert fresh["embedder"].status == "ok"
    assert not (data / FILE_NAME).exists()
    assert not (data / "lancedb").exists()

    (data / FILE_NAME).write_text("# Core memory\n" + "- line\n" * 90)
    (data / "lancedb" / "memories.lance").mkdir(parents=True)
    (data / "lancedb" / "memories.lance" / "_versions").write_text("not a table")
    broken = by_name(doctor_checks.checks(settings))
    assert broken["core memory"].status == "fail"
    assert "91/80 lines" in broken["core memory"].detail
    assert broken["memory index"].status == "warn"
    assert "rebuilt from SQLite (nothing is lost)" in broken["memory index"].detail
    assert (data / "lancedb" / "memories.lance" / "_versions").read_text() == "not a table"
