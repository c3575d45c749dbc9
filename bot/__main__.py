"""``python -m bot`` works like the ``steward`` command."""

from __future__ import annotations

import sys

from bot.cli import main

sys.exit(main())
