"""``python -m bot`` works like the ``steward`` command."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("PTB_TIMEDELTA", "1")  # python-telegram-bot's timedelta durations

from bot.cli import main

sys.exit(main())
