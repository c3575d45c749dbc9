"""The Telegram side of the bot: python-telegram-bot's application, the owner gate, handlers."""

from __future__ import annotations

import os

# python-telegram-bot 22 gives ``retry_after`` and other durations as ``timedelta`` only when
# asked (and warns otherwise): ask before any of its modules is used.
os.environ.setdefault("PTB_TIMEDELTA", "1")
