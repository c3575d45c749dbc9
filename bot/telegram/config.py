"""The Telegram bot's settings, as the composition root hands them down (no Telegram import)."""

from __future__ import annotations

from dataclasses import dataclass

STALL_S = 120.0
"""``getUpdates`` silent this long: the watchdog restarts polling, and ``/healthz`` says 503."""
CHECK_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    token: str
    owner_id: int
    base_url: str = "https://api.telegram.org"
    """The Bot API's root (``/bot`` is added when missing): Telegram's, a local server's, a
    fake's in tests."""
    poll_timeout_s: int = 10
    stall_s: float = STALL_S
    check_every_s: float = CHECK_EVERY_S
    start_retry_s: float = 5.0


def api_urls(base_url: str) -> tuple[str, str]:
    """The Bot API's method and file roots (each ends in ``/bot``; the token follows)."""
    root = base_url.rstrip("/").removesuffix("/bot")
    return f"{root}/bot", f"{root}/file/bot"
