"""Zero-copy blob downloads.

uvloop (our event loop) has no native ``loop.sendfile`` and falls back to reading
the file into Python and writing it back out. Instead, once the response headers
are on the wire, a worker thread drives ``os.sendfile`` on a duplicate of the
connection's socket: the kernel copies page cache to socket, and the event loop
stays free. TLS connections can't use sendfile and take the copying path.
"""

from __future__ import annotations

import asyncio
import os
import select
from pathlib import Path

from aiohttp import web

STALL_SECONDS = 120.0  # give up on a client that accepts nothing for this long
COPY_CHUNK = 1 << 20


def _sendfile_blocking(sock_fd: int, file_fd: int, offset: int, count: int) -> None:
    poller = select.poll()
    poller.register(sock_fd, select.POLLOUT)
    while count > 0:
        try:
            sent = os.sendfile(sock_fd, file_fd, offset, count)
        except BlockingIOError:
            if not poller.poll(STALL_SECONDS * 1000):
                # headers are out, so there is no error to answer: drop the connection
                raise ConnectionResetError("client stopped reading") from None
            continue
        if sent == 0:
            raise ConnectionResetError("file shrank or connection closed")
        offset += sent
        count -= sent


async def _copy(response: web.StreamResponse, file_fd: int, offset: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    while count > 0:
        chunk = await loop.run_in_executor(None, os.pread, file_fd, min(COPY_CHUNK, count), offset)
        if not chunk:
            raise ConnectionResetError("file shrank while sending")
        await response.write(chunk)
        offset += len(chunk)
        count -= len(chunk)


async def send_file(
    request: web.Request, response: web.StreamResponse, path: Path, offset: int, count: int
) -> None:
    """Send ``count`` bytes of ``path`` from ``offset`` as the body of ``response``.
    Raises FileNotFoundError before anything is sent when the file is gone."""
    loop = asyncio.get_running_loop()
    file_fd = await loop.run_in_executor(None, os.open, path, os.O_RDONLY)
    try:
        await response.prepare(request)  # StreamResponse writes its headers at once
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("connection lost")
        sock = transport.get_extra_info("socket")
        if count and sock is not None and transport.get_extra_info("sslcontext") is None:
            while transport.get_write_buffer_size():  # noqa: ASYNC110 - no event to await
                await asyncio.sleep(0.001)  # headers still queued in the transport
            sock_fd = os.dup(sock.fileno())  # stays valid even if the loop closes its fd
            try:
                await loop.run_in_executor(
                    None, _sendfile_blocking, sock_fd, file_fd, offset, count
                )
            finally:
                os.close(sock_fd)
        elif count:
            await _copy(response, file_fd, offset, count)
        await response.write_eof()
    finally:
        os.close(file_fd)
