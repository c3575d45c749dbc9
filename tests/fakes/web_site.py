"""A fake web site on 127.0.0.1 (aiohttp): pages, redirects, endless and slow bodies, gzip bombs.

Tests reach it under made-up names (``site.test``) through the web skill's resolver hook, and
reach "public" addresses through ``Remap``, an httpx transport that sends connections for chosen
IPs to the loopback site instead: the request still travels over a real socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from aiohttp import web

from tests.fakes.llm_servers import shared_tls


@dataclass
class Hit:
    path: str
    query: str
    host: str


@dataclass
class FakeSite:
    pages: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    endless: set[str] = field(default_factory=set)
    slow: dict[str, float] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    sent_bytes: dict[str, int] = field(default_factory=dict)
    port: int = 0
    _runner: web.AppRunner | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> FakeSite:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str, host: str = "site.test") -> str:
        return f"http://{host}:{self.port}{path}"

    # -- what a test serves -------------------------------------------------------------------

    def page(self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8",
             status: int = 200, **headers: str) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.pages[path] = (status, {"Content-Type": content_type, **headers}, data)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.pages[path] = (status, {"Location": location}, b"")

    def gzip_bomb(self, path: str, inflated_bytes: int) -> None:
        """A small gzip body that inflates to ``inflated_bytes`` of zeros."""
        self.page(path, gzip.compress(b"\0" * inflated_bytes, 9), "text/plain",
                  **{"Content-Encoding": "gzip"})

    def requested(self, path: str) -> bool:
        return any(h.path == path for h in self.hits)

    # -- serving --------------------------------------------------------------------------------

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits.append(Hit(path, request.query_string, request.headers.get("Host", "")))
        if path in self.slow:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.slow[path])
        if path in self.endless:
            return await self._endless(request)
        status, headers, body = self.pages.get(path, (404, {"Content-Type": "text/plain"},
                                                      b"not found"))
        return web.Response(status=status, headers=headers, body=body)

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        """Text forever, until the client hangs up: counts what it managed to send."""
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        chunk = b"all work and no play " * 3000
        sent = 0
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while not self._closing.is_set():
                await response.write(chunk)
                sent += len(chunk)
                self.sent_bytes[request.path] = sent
        return response


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[FakeSite]:
    site = await FakeSite().start()
    try:
        yield site
    finally:
        await site.stop()


def resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    """A resolver hook answering from ``table``; unknown names fail like DNS does."""
    async def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        if host.replace(".", "").isdigit() or ":" in host:
            return [host]
        raise OSError(f"no such host: {host}")
    return resolve


class Remap(httpx.AsyncBaseTransport):
    """Sends requests for the IPs in ``to_loopback`` to 127.0.0.1 (same port), over a real
    connection: how a test site stands in for a public address."""

    def __init__(self, to_loopback: set[str]) -> None:
        self._ips = to_loopback
        self._inner = httpx.AsyncHTTPTransport(verify=shared_tls())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host in self._ips:
            request.url = request.url.copy_with(host="127.0.0.1")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
