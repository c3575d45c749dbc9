"""The one ``Settings``: read from the environment or ``.env``, checked once, handed down."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from bot.errors import ConfigError
from engine.loop import EngineConfig

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_KEEP = re.compile(r"^\s*(\d{1,3})d\s*,\s*(\d{1,3})w\s*$")


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window (it may wrap past midnight) in which notifications wait."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        parts = text.strip().split("-")
        found = [_HHMM.match(p.strip()) for p in parts] if len(parts) == 2 else []
        if len(found) != 2 or not all(found):
            raise ValueError("must look like HH:MM-HH:MM, e.g. 22:00-07:00")
        start, end = (time(int(m.group(1)), int(m.group(2))) for m in found if m)
        if start == end:
            raise ValueError("start and end must differ")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _var(name: str, default: Any = None, **limits: Any) -> Any:
    """A field read from the environment variable ``name`` (case-insensitive)."""
    return Field(default, validation_alias=name, **limits)


class Settings(BaseSettings):
    """Every knob of the process; see DESIGN.md §3 for what each one means."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", env_ignore_empty=True, frozen=True)

    telegram_token: SecretStr | None = _var("STEWARD_TELEGRAM_TOKEN")
    trusted_user_id: int | None = _var("STEWARD_TRUSTED_USER_ID", gt=0)
    telegram_base_url: str = _var("STEWARD_TELEGRAM_BASE_URL", "https://api.telegram.org")
    data_dir: Path = _var("STEWARD_DATA_DIR", Path("data"))
    timezone: str = _var("STEWARD_TIMEZONE", "UTC")
    tick_seconds: float = _var("STEWARD_TICK_SECONDS", 10.0, gt=0)
    slots: int = _var("STEWARD_SLOTS", 20, ge=1, le=200)
    stuck_minutes: float = _var("STEWARD_STUCK_MINUTES", 15.0, gt=0)
    daily_spend_cap_usd: float = _var("STEWARD_DAILY_SPEND_CAP_USD", 5.0, ge=0)
    quiet_hours: Annotated[QuietHours | None, NoDecode] = _var("STEWARD_QUIET_HOURS")
    metrics_addr: str = _var("STEWARD_METRICS_ADDR", "127.0.0.1:9464")
    models_file: Path | None = _var("STEWARD_MODELS_FILE")
    grace_seconds: float = _var("STEWARD_GRACE_SECONDS", 30.0, ge=0)
    retry_delays: Annotated[tuple[float, ...], NoDecode] = _var(
        "STEWARD_RETRY_DELAYS", (120.0, 600.0, 1800.0))
    """Backoff before the 1st, 2nd, 3rd… retry of a transient failure, in seconds."""
    backup_keep: Annotated[tuple[int, int], NoDecode] = _var("STEWARD_BACKUP_KEEP", (7, 4))
    """How many daily and weekly backups ``steward backup`` keeps (``7d,4w``)."""
    log_format: Literal["auto", "text", "json"] = _var("STEWARD_LOG_FORMAT", "auto")
    """``steward run``'s log lines: JSON unless stderr is a terminal (auto), or as given."""
    openai_api_key: SecretStr | None = _var("OPENAI_API_KEY")
    openai_base_url: str | None = _var("OPENAI_BASE_URL")
    anthropic_api_key: SecretStr | None = _var("ANTHROPIC_API_KEY")
    anthropic_base_url: str | None = _var("ANTHROPIC_BASE_URL")
    openrouter_api_key: SecretStr | None = _var("OPENROUTER_API_KEY")
    ollama_base_url: str | None = _var("OLLAMA_BASE_URL")
    extra_secrets: SecretStr | None = _var("STEWARD_EXTRA_SECRETS")
    """More values to redact everywhere, comma-separated (passwords, tokens of your own)."""
    allow_public_bind: bool = _var("STEWARD_ALLOW_PUBLIC_BIND", False)
    web_allow_private: bool = _var("STEWARD_WEB_ALLOW_PRIVATE", False)
    adb_host: str = _var("STEWARD_ADB_HOST", "127.0.0.1")
    adb_port: int = _var("STEWARD_ADB_PORT", 5037, gt=0, lt=65536)
    adb_serial: str | None = _var("STEWARD_ADB_SERIAL")
    """Let a server (the metrics endpoint) listen beyond loopback."""
    imap_host: str | None = _var("STEWARD_IMAP_HOST")
    imap_port: int | None = _var("STEWARD_IMAP_PORT", gt=0, lt=65536)
    """Default 993 with SSL, 143 without."""
    imap_user: str | None = _var("STEWARD_IMAP_USER")
    imap_password: SecretStr | None = _var("STEWARD_IMAP_PASSWORD")
    imap_mailbox: str = _var("STEWARD_IMAP_MAILBOX", "INBOX")
    imap_ssl: bool = _var("STEWARD_IMAP_SSL", True)
    smtp_host: str | None = _var("STEWARD_SMTP_HOST")
    smtp_port: int = _var("STEWARD_SMTP_PORT", 587, gt=0, lt=65536)
    """465 means TLS from the first byte; otherwise STARTTLS when ``STEWARD_SMTP_STARTTLS``."""
    smtp_user: str | None = _var("STEWARD_SMTP_USER")
    smtp_password: SecretStr | None = _var("STEWARD_SMTP_PASSWORD")
    smtp_starttls: bool = _var("STEWARD_SMTP_STARTTLS", True)
    mail_from: str | None = _var("STEWARD_MAIL_FROM")
    owner_email: str | None = _var("STEWARD_OWNER_EMAIL")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone; use a name like Europe/Berlin or UTC") from None
        return value

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _quiet(cls, value: object) -> object:
        return QuietHours.parse(value) if isinstance(value, str) else value

    @field_validator("retry_delays", mode="before")
    @classmethod
    def _delays(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            delays = tuple(float(part) for part in value.split(","))
        except ValueError:
            raise ValueError("must be seconds separated by commas, e.g. 120,600,1800") from None
        if not delays or any(not 0 <= d <= 86400 for d in delays):
            raise ValueError("each delay must be from 0 to 86400 seconds")
        return delays

    @field_validator("backup_keep", mode="before")
    @classmethod
    def _keep(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        found = _KEEP.match(value)
        if found is None or not int(found.group(1)) + int(found.group(2)):
            raise ValueError("must be daily and weekly counts like 7d,4w (at least one kept)")
        return int(found.group(1)), int(found.group(2))

    @field_validator("metrics_addr")
    @classmethod
    def _addr(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, e.g. 127.0.0.1:9464")
        return value

    @field_validator("telegram_base_url", "openai_base_url", "anthropic_base_url",
                     "ollama_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("models_file")
    @classmethod
    def _models(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("no such file")
        return value

    @model_validator(mode="after")
    def _owner(self) -> Settings:
        if self.telegram_token is not None and self.trusted_user_id is None:
            raise ValueError("STEWARD_TRUSTED_USER_ID: required when STEWARD_TELEGRAM_TOKEN is set")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def providers(self) -> list[str]:
        """The model providers configured by a key or a base URL."""
        found = {"openai": self.openai_api_key, "anthropic": self.anthropic_api_key,
                 "openrouter": self.openrouter_api_key, "ollama": self.ollama_base_url}
        return [name for name, value in found.items() if value is not None]

    def secret_values(self) -> list[str]:
        """Every configured secret (each ``SecretStr`` field, extra secrets split on commas),
        for the redactor."""
        values: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                text = value.get_secret_value()
                values += text.split(",") if name == "extra_secrets" else [text]
        return [v.strip() for v in values if v.strip()]


SECRET_VARS = frozenset({
    "STEWARD_TELEGRAM_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY",
    "STEWARD_EXTRA_SECRETS", "STEWARD_IMAP_PASSWORD", "STEWARD_SMTP_PASSWORD"})

_MESSAGES = {
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
}


def load_settings() -> Settings:
    """Read the settings, or raise ``ConfigError`` with one line saying what is wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError("; ".join(describe(e) for e in exc.errors())) from None
    except SettingsError as exc:
        raise ConfigError(f"cannot read the settings: {exc}") from None


def describe(error: Any) -> str:
    """One pydantic error as ``VARIABLE: what is wrong (got value)``; secrets never shown."""
    loc = [str(part) for part in error["loc"]]
    ctx = {k: f"{v:g}" if isinstance(v, float) else v for k, v in error.get("ctx", {}).items()}
    known = _MESSAGES.get(error["type"])
    message = known.format(**ctx) if known else str(error["msg"]).removeprefix("Value error, ")
    if not loc:
        return message
    name = loc[0].upper()
    if name in SECRET_VARS or not isinstance(error.get("input"), str | int | float):
        return f"{name}: {message}"
    shown = " ".join(str(error["input"]).split())
    shown = shown if len(shown) <= 40 else shown[:39] + "…"
    return f"{name}: {message} (got {shown})"


def engine_config(settings: Settings) -> EngineConfig:
    """The engine's part of the settings."""
    return EngineConfig(
        data_dir=settings.data_dir, slots=settings.slots, tick_s=settings.tick_seconds,
        stuck_s=settings.stuck_minutes * 60, grace_s=settings.grace_seconds,
        retry_delays_s=settings.retry_delays)
