"""The secrets the settings hand to the redactor, and the public-bind switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import load_settings
from tests.canary import CANARY_ANTHROPIC_KEY, CANARY_BOT_TOKEN, CANARY_OPENAI_KEY


def test_every_secret_setting_is_collected(clean_env: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_TELEGRAM_TOKEN", CANARY_BOT_TOKEN)
    monkeypatch.setenv("STEWARD_TRUSTED_USER_ID", "42")
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", CANARY_ANTHROPIC_KEY)
    monkeypatch.setenv("STEWARD_EXTRA_SECRETS", " imap-password-1 ,, smtp-password-2 ")
    found = load_settings().secret_values()
    assert set(found) >= {CANARY_BOT_TOKEN, CANARY_OPENAI_KEY, CANARY_ANTHROPIC_KEY,
                          "imap-password-1", "smtp-password-2"}
    assert "" not in found


def test_nothing_configured_means_no_secrets_and_loopback_only(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.secret_values() == []
    assert settings.allow_public_bind is False


def test_public_bind_is_a_switch(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_ALLOW_PUBLIC_BIND", "1")
    assert load_settings().allow_public_bind is True
