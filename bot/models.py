"""The ``llm`` backend built on its first job: the provider SDKs take seconds to import, which no
command that runs no model (``steward job list``, ``steward costs``…) should pay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.model import JSON, FailureClass, Job
from engine.signals import Fail
from engine.workers.backend import Backend, RunContext

if TYPE_CHECKING:
    from engine.gateway.router import Gateway

log = logging.getLogger("steward")

NO_PROVIDER = ("no model provider could be connected: a provider key or base URL is set but "
               "empty")


class LazyLlm:
    """A ``Backend`` standing for the ``llm`` backend until its first job (or ``warm``): then
    the SDKs are imported in a thread, so the event loop never waits on them, and the gateway
    and the backend are built once, on the loop."""

    handles_timeout = False

    def __init__(self, connect: Callable[[], Gateway | None],
                 make: Callable[[Gateway], Backend]) -> None:
        self._connect = connect
        self._make = make
        self._gateway: Gateway | None = None
        self._backend: Backend | None = None
        self._lock = asyncio.Lock()

    @property
    def gateway(self) -> Gateway | None:
        """The gateway once built; None before."""
        return self._gateway

    async def ready(self) -> Backend:
        """The real backend, built on the first call."""
        async with self._lock:
            if self._backend is None:
                await asyncio.to_thread(import_models)
                gateway = self._connect()
                if gateway is None:
                    raise Fail(NO_PROVIDER, FailureClass.INVALID_INPUT)
                self._gateway, self._backend = gateway, self._make(gateway)
        return self._backend

    async def warm(self) -> None:
        """Build it now (``steward run`` at start), so the owner's first message does not wait
        for the imports; a failure is only logged: the first job reports it."""
        try:
            await self.ready()
        except Fail as exc:
            log.warning("models: %s", exc.reason)

    async def run(self, job: Job, ctx: RunContext) -> JSON:
        return await (await self.ready()).run(job, ctx)

    async def aclose(self) -> None:
        """Close the providers' HTTP clients, if they were ever opened."""
        if self._gateway is not None:
            await self._gateway.aclose()


def import_models() -> None:
    """The gateway, its provider SDKs and the llm worker, with cl100k_base loaded: seconds of
    work, done off the event loop."""
    import engine.gateway.providers
    import engine.gateway.router
    import engine.workers.llm  # noqa: F401
    from engine.workers.llm_tokens import cl100k

    cl100k()
