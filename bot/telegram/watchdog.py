"""``getUpdates`` liveness: every successful poll is stamped; a poll silent too long is restarted.

Polling can stall silently on a wedged connection. The ``getUpdates`` request of the bot is a
``StampedRequest``, so the time since the last answered poll is known (it is also the poll age
that ``/status``, ``/healthz`` and ``/metrics`` report); the ``Watchdog`` restarts polling when
that age passes its threshold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram.request import HTTPXRequest, RequestData

from bot.telegram.config import CHECK_EVERY_S, STALL_S

log = logging.getLogger("steward.bot")



class PollClock:
    """When ``getUpdates`` last answered (monotonic seconds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = clock()

    def stamp(self) -> None:
        self._last = self._clock()

    def age(self) -> float:
        return max(self._clock() - self._last, 0.0)


class StampedRequest(HTTPXRequest):
    """The ``getUpdates`` request: stamps the poll clock whenever Telegram answers a poll."""

    def __init__(self, poll: PollClock, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._poll = poll

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(url, method, request_data, *args, **kwargs)
        if 200 <= code < 300:
            self._poll.stamp()
        return code, payload


class Watchdog:
    """Restarts polling when no poll was answered for ``stall_s``."""

    def __init__(self, poll: PollClock, restart: Callable[[], Awaitable[None]],
                 stall_s: float = STALL_S, check_every_s: float = CHECK_EVERY_S) -> None:
        self._poll = poll
        self._restart = restart
        self.stall_s = stall_s
        self._every_s = check_every_s
        self.restarts = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._every_s)
            if not stop.is_set():
                await self.check()

    async def check(self) -> None:
        """Restart polling now if it stalled."""
        age = self._poll.age()
        if age <= self.stall_s:
            return
        log.warning("telegram: no answer to getUpdates for %.0f s; restarting polling", age)
        self.restarts += 1
        self._poll.stamp()  # give the new poll its full time before judging it
        try:
            await self._restart()
        except Exception:  # the loop boundary: the next check tries again
            log.exception("telegram: restarting polling failed")
