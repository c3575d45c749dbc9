"""Settings: defaults, one-line errors naming the variable, secrets never shown."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import QuietHours, engine_config, load_settings

CANARY = "sk-very-secret-value-123"


def test_defaults(clean_env: Path) -> None:
    s = load_settings()
    assert (s.data_dir, s.timezone, s.tick_seconds, s.slots) == (Path("data"), "UTC", 10, 20)
    assert (s.stuck_minutes, s.daily_spend_cap_usd, s.grace_seconds) == (15, 5, 30)
    assert (s.metrics_addr, s.quiet_hours, s.models_file) == ("127.0.0.1:9464", None, None)
    assert s.telegram_token is None
    assert s.trusted_user_id is None
    assert s.providers == []


def test_values_from_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = clean_env / "models.toml"
    models.write_text("")
    for name, value in {
        "STEWARD_DATA_DIR": "/srv/steward", "STEWARD_TIMEZONE": "Europe/Berlin",
        "STEWARD_TICK_SECONDS": "0.5", "STEWARD_SLOTS": "3", "STEWARD_STUCK_MINUTES": "2",
        "STEWARD_DAILY_SPEND_CAP_USD": "0", "STEWARD_QUIET_HOURS": "22:30-07:00",
        "STEWARD_METRICS_ADDR": "[::1]:9000", "STEWARD_MODELS_FILE": str(models),
        "STEWARD_GRACE_SECONDS": "4", "steward_telegram_token": CANARY,
        "STEWARD_TRUSTED_USER_ID": "42", "ANTHROPIC_API_KEY": CANARY,
        "OLLAMA_BASE_URL": "http://127.0.0.1:11434",
    }.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert s.data_dir == Path("/srv/steward")
    assert s.zone.key == "Europe/Berlin"
    assert s.quiet_hours == QuietHours(time(22, 30), time(7, 0))
    assert str(s.quiet_hours) == "22:30-07:00"
    assert s.trusted_user_id == 42
    assert s.models_file == models
    assert s.telegram_token is not None
    assert s.telegram_token.get_secret_value() == CANARY
    assert s.providers == ["anthropic", "ollama"]
    config = engine_config(s)
    assert (config.data_dir, config.slots, config.tick_s) == (Path("/srv/steward"), 3, 0.5)
    assert (config.stuck_s, config.grace_s) == (120, 4)


def test_dotenv_is_read_and_unrelated_lines_ignored(clean_env: Path) -> None:
    (clean_env / ".env").write_text("STEWARD_SLOTS=7\nSOMETHING_ELSE=1\nSTEWARD_QUIET_HOURS=\n")
    s = load_settings()
    assert s.slots == 7
    assert s.quiet_hours is None


@pytest.mark.parametrize(("name", "value", "message"), [
    ("STEWARD_SLOTS", "0", "STEWARD_SLOTS: must be at least 1 (got 0)"),
    ("STEWARD_SLOTS", "201", "STEWARD_SLOTS: must be at most 200 (got 201)"),
    ("STEWARD_SLOTS", "many", "STEWARD_SLOTS: must be a whole number (got many)"),
    ("STEWARD_TICK_SECONDS", "0", "STEWARD_TICK_SECONDS: must be more than 0 (got 0)"),
    ("STEWARD_TICK_SECONDS", "soon", "STEWARD_TICK_SECONDS: must be a number (got soon)"),
    ("STEWARD_STUCK_MINUTES", "-1", "STEWARD_STUCK_MINUTES: must be more than 0 (got -1)"),
    ("STEWARD_DAILY_SPEND_CAP_USD", "-5",
     "STEWARD_DAILY_SPEND_CAP_USD: must be at least 0 (got -5)"),
    ("STEWARD_GRACE_SECONDS", "-1", "STEWARD_GRACE_SECONDS: must be at least 0 (got -1)"),
    ("STEWARD_TIMEZONE", "Mars/Olympus",
     "STEWARD_TIMEZONE: unknown time zone; use a name like Europe/Berlin or UTC "
     "(got Mars/Olympus)"),
    ("STEWARD_QUIET_HOURS", "22-7",
     "STEWARD_QUIET_HOURS: must look like HH:MM-HH:MM, e.g. 22:00-07:00 (got 22-7)"),
    ("STEWARD_QUIET_HOURS", "25:00-07:00",
     "STEWARD_QUIET_HOURS: must look like HH:MM-HH:MM, e.g. 22:00-07:00 (got 25:00-07:00)"),
    ("STEWARD_QUIET_HOURS", "07:00-07:00",
     "STEWARD_QUIET_HOURS: start and end must differ (got 07:00-07:00)"),
    ("STEWARD_METRICS_ADDR", "localhost",
     "STEWARD_METRICS_ADDR: must be host:port, e.g. 127.0.0.1:9464 (got localhost)"),
    ("STEWARD_METRICS_ADDR", "127.0.0.1:70000",
     "STEWARD_METRICS_ADDR: must be host:port, e.g. 127.0.0.1:9464 (got 127.0.0.1:70000)"),
    ("STEWARD_MODELS_FILE", "/no/such/models.toml",
     "STEWARD_MODELS_FILE: no such file (got /no/such/models.toml)"),
    ("STEWARD_TRUSTED_USER_ID", "me", "STEWARD_TRUSTED_USER_ID: must be a whole number (got me)"),
    ("STEWARD_TELEGRAM_BASE_URL", "api.telegram.org",
     "STEWARD_TELEGRAM_BASE_URL: must be an http:// or https:// URL (got api.telegram.org)"),
    ("STEWARD_RETRY_DELAYS", "2,soon",
     "STEWARD_RETRY_DELAYS: must be seconds separated by commas, e.g. 120,600,1800 (got 2,soon)"),
    ("STEWARD_RETRY_DELAYS", "5,-1",
     "STEWARD_RETRY_DELAYS: each delay must be from 0 to 86400 seconds (got 5,-1)"),
    ("OPENAI_BASE_URL", "ftp://x", "OPENAI_BASE_URL: must be an http:// or https:// URL "
     "(got ftp://x)"),
])
def test_bad_value_is_one_line_naming_the_variable(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str,
        message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_token_needs_the_trusted_user(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_TELEGRAM_TOKEN", CANARY)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        "STEWARD_TRUSTED_USER_ID: required when STEWARD_TELEGRAM_TOKEN is set")


def test_several_problems_stay_on_one_line(clean_env: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_SLOTS", "0")
    monkeypatch.setenv("STEWARD_TIMEZONE", "Nowhere")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    text = str(caught.value)
    assert "STEWARD_SLOTS" in text
    assert "STEWARD_TIMEZONE" in text
    assert "\n" not in text


def test_secrets_never_shown(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STEWARD_TELEGRAM_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                 "OPENROUTER_API_KEY"):
        monkeypatch.setenv(name, CANARY)
    monkeypatch.setenv("STEWARD_TRUSTED_USER_ID", "7")
    s = load_settings()
    assert CANARY not in repr(s)
    assert CANARY not in str(s)
    assert CANARY not in repr(s.model_dump())
    monkeypatch.delenv("STEWARD_TRUSTED_USER_ID")
    monkeypatch.setenv("STEWARD_SLOTS", "0")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert CANARY not in str(caught.value)


def test_retry_delays_reach_the_engine(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert engine_config(load_settings()).retry_delays_s == (120, 600, 1800)
    monkeypatch.setenv("STEWARD_RETRY_DELAYS", "1, 2.5,30")
    assert engine_config(load_settings()).retry_delays_s == (1, 2.5, 30)
