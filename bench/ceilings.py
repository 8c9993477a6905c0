"""The machine's own ceilings, measured in the same run: sha256, fsync'd disk writes, loopback
HTTP through a trivial aiohttp server (in a child process) and client."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import multiprocessing.synchronize
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

MB = 1_000_000
_BUF = 16 << 20


def sha256_mbps(total: int) -> float:
    buf = os.urandom(_BUF)
    h = hashlib.sha256()
    n = max(1, total // _BUF)
    t0 = time.perf_counter()
    for _ in range(n):
        h.update(buf)
    h.hexdigest()
    return n * _BUF / (time.perf_counter() - t0) / MB


def disk_write_mbps(directory: Path, total: int, repeats: int = 3) -> list[float]:
    """Sequential 4 MiB writes of ``total`` bytes plus one fsync, in ``directory``, to
    ``repeats`` new files kept until the end. On a VM the rate depends on whether the page
    cache lands on guest memory touched before (fast) or fresh memory the host must back
    first (seen here: 1.5 GB/s, then ~360-500 MB/s), so one sample can mislead."""
    block = os.urandom(4 << 20)
    n = max(1, total // len(block))
    rates = []
    paths = [directory / f"ceiling-disk-{i}.tmp" for i in range(repeats)]
    try:
        for path in paths:
            t0 = time.perf_counter()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                for _ in range(n):
                    os.write(fd, block)
                os.fsync(fd)
            finally:
                os.close(fd)
            rates.append(n * len(block) / (time.perf_counter() - t0) / MB)
    finally:
        for path in paths:
            path.unlink(missing_ok=True)
    return rates


def _disk_figures(rates: list[float]) -> dict[str, float]:
    ordered = sorted(rates)
    return {
        "disk_write_fsync_MBps": round(ordered[len(ordered) // 2], 1),  # median
        "disk_write_fsync_min_MBps": round(ordered[0], 1),
        "disk_write_fsync_max_MBps": round(ordered[-1], 1),
    }


def _serve(port: int, total: int, ready: multiprocessing.synchronize.Event) -> None:
    chunk = os.urandom(1 << 20)

    async def download(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.content_length = total
        await resp.prepare(request)
        left = total
        while left > 0:
            part = chunk if left >= len(chunk) else chunk[:left]
            await resp.write(part)
            left -= len(part)
        await resp.write_eof()
        return resp

    async def upload(request: web.Request) -> web.Response:
        n = 0
        async for data in request.content.iter_any():
            n += len(data)
        return web.Response(text=str(n))

    small = web.Response(body=os.urandom(1024), content_type="application/json")

    async def small_get(request: web.Request) -> web.Response:
        return web.Response(body=small.body, content_type="application/json")

    app = web.Application(client_max_size=total * 2 + 1024)
    app.router.add_get("/blob", download)
    app.router.add_get("/small", small_get)
    app.router.add_put("/blob", upload)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.sleep(600)  # bounded: the parent terminates us long before this

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


async def _loopback(port: int, total: int) -> tuple[float, float]:
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        t0 = time.perf_counter()
        got = 0
        async with s.get(f"http://127.0.0.1:{port}/blob") as r:
            async for data in r.content.iter_any():
                got += len(data)
        down = got / (time.perf_counter() - t0) / MB

        chunk = os.urandom(1 << 20)

        async def body() -> AsyncIterator[bytes]:
            left = total
            while left > 0:
                part = chunk if left >= len(chunk) else chunk[:left]
                left -= len(part)
                yield part

        t0 = time.perf_counter()
        async with s.put(
            f"http://127.0.0.1:{port}/blob",
            data=body(),
            headers={"Content-Length": str(total)},
        ) as r:
            sent = int(await r.text())
        up = sent / (time.perf_counter() - t0) / MB
    return down, up


async def _small_requests(port: int, n: int, conns: int) -> float:
    """Requests/s of ``n`` 1 KiB GETs over ``conns`` connections: the harness's own ceiling
    for small requests (trivial single-process aiohttp server + this client, sharing CPU)."""
    connector = aiohttp.TCPConnector(limit=conns)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as s:
        it = iter(range(n))

        async def worker() -> None:
            for _ in it:
                async with s.get(f"http://127.0.0.1:{port}/small") as r:
                    await r.read()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conns)))
        return n / (time.perf_counter() - t0)


async def loopback_http(total: int, port: int, small_n: int) -> tuple[float, float, float]:
    """(download MB/s, upload MB/s) of ``total`` bytes over 127.0.0.1 through aiohttp, and
    small GETs/s over 64 connections."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_serve, args=(port, total, ready), daemon=True)
    proc.start()
    try:
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, ready.wait, 30):
            raise RuntimeError("loopback ceiling server did not start")
        down, up = await _loopback(port, total)
        return down, up, await _small_requests(port, small_n, 64)
    finally:
        proc.terminate()
        proc.join(10)


async def measure_all(
    directory: Path, total: int, port: int, small_n: int = 20_000
) -> dict[str, float]:
    down, up, small = await loopback_http(total, port, small_n)
    return {
        "sha256_MBps": round(sha256_mbps(total), 1),
        **_disk_figures(disk_write_mbps(directory, total)),
        "loopback_http_get_MBps": round(down, 1),
        "loopback_http_put_MBps": round(up, 1),
        "loopback_http_1KiB_GET_per_s": round(small, 1),
    }
