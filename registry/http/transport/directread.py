"""Large request bodies read straight from the socket by a worker thread.

For a plain-TCP request with a Content-Length, the body of a big push would otherwise
pass through the event loop in 64-256 KiB pieces (recv, HTTP parser, stream buffer,
flow-control pauses). Here the event loop stops reading the connection, hands over
what aiohttp already buffered, and a worker thread reads the rest in 4 MiB
buffers, which the content core hashes and writes in two more threads. aiohttp's
parser never sees those bytes, so the connection can't carry another request: it is
marked to close after the response.
"""

from __future__ import annotations

import asyncio
import os
import select
from collections.abc import AsyncIterator

from aiohttp import web

from wharf.registry.http.keys import SETTINGS
from wharf.registry.logs import CLIENT_FAULTS
from wharf.registry.oci.errors import BLOB_UPLOAD_INVALID, RegistryError

MIN_DIRECT_BODY = 8 * 1024 * 1024  # smaller bodies gain nothing from the hand-over
BUFFER = 4 * 1024 * 1024
# The response must close the connection (its body was read past aiohttp's parser).
CLOSE_AFTER = web.RequestKey("close_after", bool)


def _recv_exactly(sock_fd: int, size: int, idle_timeout: float) -> bytearray:
    buf = bytearray(size)
    view = memoryview(buf)
    poller = select.poll()
    poller.register(sock_fd, select.POLLIN)
    filled = 0
    while filled < size:
        try:
            n = os.readv(sock_fd, [view[filled:]])
        except BlockingIOError:
            if not poller.poll(idle_timeout * 1000):
                raise TimeoutError("client stopped sending") from None
            continue
        if n == 0:
            raise ConnectionResetError("client closed the connection mid-body")
        filled += n
    return buf


def direct_body_possible(request: web.Request) -> bool:
    length = request.content_length
    if length is None or length < MIN_DIRECT_BODY:
        return False
    if request.headers.get("Transfer-Encoding"):
        return False  # (an `Expect: 100-continue` was answered by aiohttp's router already)
    transport = request.transport
    return (
        transport is not None
        and transport.get_extra_info("sslcontext") is None
        and transport.get_extra_info("socket") is not None
        and not request.content.is_eof()
    )


async def direct_body(request: web.Request) -> AsyncIterator[bytes | bytearray]:
    """Yield the body of ``request`` (see `direct_body_possible`) in large buffers."""
    transport = request.transport
    assert transport is not None and request.content_length is not None
    request[CLOSE_AFTER] = True
    # No await between these two lines: nothing else may read the socket after this.
    head = request.content.read_nowait()
    transport.pause_reading()
    remaining = request.content_length - len(head)
    if head:
        yield head
    if remaining <= 0:
        request.content.feed_eof()
        return
    idle_timeout = request.config_dict[SETTINGS].limits.body_idle_timeout  # as for any other body
    sock_fd = os.dup(transport.get_extra_info("socket").fileno())
    loop = asyncio.get_running_loop()
    try:
        while remaining > 0:
            size = min(BUFFER, remaining)
            try:
                buf = await loop.run_in_executor(None, _recv_exactly, sock_fd, size, idle_timeout)
            except TimeoutError:
                CLIENT_FAULTS.report(
                    "body_timeout",
                    f"request body idle for {idle_timeout:g} s; upload aborted",
                    remote=request.remote,
                    method=request.method,
                    path=request.path[:300],
                )
                raise RegistryError(
                    BLOB_UPLOAD_INVALID,
                    {"missing_bytes": remaining},
                    message=f"client sent nothing for {idle_timeout:g} s mid-body",
                ) from None
            remaining -= size
            yield buf
    finally:
        os.close(sock_fd)
        # aiohttp must not linger waiting for the bytes we took (nor, when the body was
        # cut short, for bytes the paused transport will never deliver)
        request.content.feed_eof()
