"""One blob fetched from upstream into the store, read by clients while it arrives.

A ``Fetch`` runs as a task of its own (a client that hangs up does not stop it): the
upstream stream is handed to the content core's monolithic upload (``Uploads.whole``:
written to storage and hashed in one pass, committed only when the digest matches, the
staging dropped on any failure — a short or failed upstream stream leaves no blob) and,
chunk by chunk on the way, appended to a spool file. Every client asking for the blob
meanwhile tails that spool from byte 0, so the first bytes go out as soon as they arrive
and a late joiner misses nothing. The last byte is held back until the store has
verified the digest: a client never receives a complete blob whose digest is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

READ_CHUNK = 1024 * 1024
# spool writes and reads up to this size are done on the event loop (page cache, a few
# microseconds), bigger ones in a thread
INLINE_IO = 256 * 1024


class Fetch:
    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self.size: int | None = None  # what upstream announced
        self.written = 0  # bytes in the spool
        self.done = False
        self.error: BaseException | None = None
        self.started = asyncio.Event()  # upstream answered (or the fetch failed)
        self.finished = asyncio.Event()  # stored (or failed)
        self._progress = asyncio.Event()
        self._readers = 0

    # --- the producer ------------------------------------------------------------------
    def begin(self, size: int | None) -> None:
        self.size = size
        self.started.set()

    def advance(self, count: int) -> None:
        self.written += count
        self._notify()

    def end(self, error: BaseException | None) -> None:
        self.error = error
        self.done = True
        self.started.set()
        self.finished.set()
        self._notify()
        self._drop_spool_if_unread()

    def _notify(self) -> None:
        event, self._progress = self._progress, asyncio.Event()
        event.set()

    def _drop_spool_if_unread(self) -> None:
        if self.done and self._readers == 0:
            with contextlib.suppress(OSError):
                os.unlink(self.spool)

    # --- the readers -------------------------------------------------------------------
    async def wait_started(self) -> None:
        """Until upstream answered; raises what the fetch failed with before that."""
        await self.started.wait()
        if self.error is not None and self.written == 0:
            raise self.error

    async def wait_finished(self) -> None:
        """Until the blob is stored; raises what the fetch failed with."""
        await self.finished.wait()
        if self.error is not None:
            raise self.error

    def reader(self) -> AsyncIterator[bytes]:
        """The blob from byte 0 as it arrives. Call it while the fetch is in flight (the
        spool is removed when the fetch ended and no reader is left)."""
        self._readers += 1  # counted now, before the first await: the spool stays
        return self._read()

    async def _read(self) -> AsyncIterator[bytes]:
        handle: BinaryIO | None = None
        try:
            handle = await asyncio.to_thread(self.spool.open, "rb")
            offset = 0
            while True:
                progress = self._progress
                # all but the last byte until the store verified the digest
                limit = self.written if self.done else self.written - 1
                if self.done and self.error is not None:
                    raise self.error
                if offset < limit:
                    want = min(READ_CHUNK, limit - offset)
                    # a small read from the page cache costs less than a thread hop
                    if want <= INLINE_IO:
                        data = handle.read(want)
                    else:
                        data = await asyncio.to_thread(handle.read, want)
                    if not data:
                        raise OSError("the spool file is shorter than written")
                    offset += len(data)
                    yield data
                    continue
                if self.done:
                    return
                await progress.wait()
        finally:
            if handle is not None:
                await asyncio.to_thread(handle.close)
            self._readers -= 1
            self._drop_spool_if_unread()


def _write_all(handle: BinaryIO, data: bytes) -> None:
    """All of ``data`` (an unbuffered file may take part of it per call)."""
    view = memoryview(data)
    while view:
        written = handle.write(view)
        view = view[written:]


Upstream = contextlib.AbstractAsyncContextManager[tuple[int | None, AsyncIterator[bytes]]]


async def produce(
    fetch: Fetch,
    open_upstream: Callable[[], Upstream],
    store: Callable[[AsyncIterator[bytes]], Awaitable[None]],
    translate: Callable[[Exception], Exception] = lambda exc: exc,
) -> None:
    """Run ``fetch``: the upstream chunks spooled and stored in one pass; a failure,
    passed through ``translate``, is what its readers raise."""
    error: BaseException | None = None
    try:
        async with open_upstream() as (size, chunks):
            # unbuffered: what is written is in the file for the readers at once
            handle = await asyncio.to_thread(fetch.spool.open, "wb", 0)
            fetch.begin(size)  # the spool exists: readers may open it
            try:

                async def tee() -> AsyncIterator[bytes]:
                    async for data in chunks:
                        if len(data) <= INLINE_IO:
                            _write_all(handle, data)  # the page cache: cheaper than a hop
                        else:
                            await asyncio.to_thread(_write_all, handle, data)
                        fetch.advance(len(data))
                        yield data

                await store(tee())
            finally:
                await asyncio.to_thread(handle.close)
    except Exception as exc:
        error = translate(exc)
    except BaseException as exc:  # cancelled (shutdown): readers fail too
        fetch.end(exc)
        raise
    fetch.end(error)
