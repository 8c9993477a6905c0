"""A proxy in front of a real registry that misbehaves on purpose, for retry tests.

It runs in the test's event loop (``async with FaultProxy(upstream) as proxy``), passes
every request through to the registry behind it (Host header kept, so the registry's
``Location`` headers point back at the proxy), and answers the requests matching a queued
``Fault`` with that fault instead: a status (429 with ``Retry-After``, 503, ...), a
connection dropped while the request body arrives, or a response body cut off midway."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from types import TracebackType

import aiohttp
from aiohttp import web

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
    }
)


@dataclass
class Fault:
    method: str
    path_contains: str
    kind: str  # "status", "drop" (close while the body arrives), "truncate" (half a body)
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1  # how many matching requests get the fault
    after: int = 0  # matching requests let through first


@dataclass
class Seen:
    method: str
    path: str
    fault: str | None
    at: float


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.rate: float | None = None  # bytes per second of response bodies (None: as fast)
        self.down = False  # refuse every request (503), as an upstream that is failing
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> FaultProxy:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def inject(self, fault: Fault) -> None:
        self.faults.append(fault)

    def _take(self, request: web.Request) -> Fault | None:
        for fault in self.faults:
            if fault.method == request.method and fault.path_contains in request.path_qs:
                if fault.after > 0:
                    fault.after -= 1
                    return None
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        fault = self._take(request)
        self.seen.append(
            Seen(request.method, request.path, fault.kind if fault else None, time.monotonic())
        )
        if self.down:
            return web.Response(status=503, text="down for the test")
        if fault is not None and fault.kind == "status":
            await request.read()
            return web.Response(status=fault.status, headers=fault.headers)
        if fault is not None and fault.kind == "drop":
            await request.content.read(64 * 1024)
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)  # never sent: the connection is gone
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = request.content if request.body_exists else None
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=body,
            allow_redirects=False,
        ) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for key, value in upstream.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    response.headers.add(key, value)
            await response.prepare(request)
            if request.method == "HEAD":
                return response
            if fault is not None and fault.kind == "truncate":
                length = upstream.content_length or 0
                await response.write(await upstream.content.read(length // 2))
                assert request.transport is not None
                request.transport.close()
                return response
            async for chunk in upstream.content.iter_chunked(256 * 1024):
                await response.write(chunk)
                if self.rate:
                    await asyncio.sleep(len(chunk) / self.rate)
            await response.write_eof()
            return response
