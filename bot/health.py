"""The ``/healthz`` and ``/metrics`` endpoint (aiohttp) on ``STEWARD_METRICS_ADDR``, loopback."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.metrics import Vitals, exposition, health, warnings
from engine.errors import StoreError
from security.errors import ForbiddenAddress
from security.network import check_bind_host

log = logging.getLogger("steward")

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def split_addr(addr: str) -> tuple[str, int]:
    """``host:port`` (an IPv6 host in brackets) as (host, port)."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


class HealthServer:
    """Serves the vitals; a port already in use is logged, not fatal (the process still works,
    and the Docker health check then reports it). It listens on loopback only, unless
    ``allow_public`` (``STEWARD_ALLOW_PUBLIC_BIND=1``)."""

    def __init__(self, vitals: Vitals, addr: str, *, allow_public: bool = False) -> None:
        self._vitals = vitals
        self._host, self._port = split_addr(addr)
        self._allow_public = allow_public
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> bool:
        try:
            check_bind_host(self._host, self._allow_public)
        except ForbiddenAddress as exc:
            log.warning("metrics: %s; /healthz and /metrics are off", exc)
            return False
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except OSError as exc:
            log.warning("metrics: cannot listen on %s:%d (%s); /healthz and /metrics are off",
                        self._host, self._port, exc.strerror or exc)
            await self.stop()
            return False
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("metrics: http://%s:%d/metrics and /healthz", self._host, self.port)
        return True

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            snapshot = self._vitals.snapshot()
            problems, degraded = health(snapshot), warnings(snapshot)
        except StoreError as exc:
            problems, degraded = [f"the database cannot be read ({exc})"], []
        if problems:
            return web.Response(status=503, text="unhealthy: " + "; ".join(problems) + "\n")
        if degraded:
            return web.Response(text="ok (degraded: " + "; ".join(degraded) + ")\n")
        return web.Response(text="ok\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            body = exposition(self._vitals.snapshot())
        except StoreError as exc:
            return web.Response(status=503, text=f"the database cannot be read ({exc})\n")
        return web.Response(body=body.encode(), headers={"Content-Type": PROMETHEUS_TYPE})
