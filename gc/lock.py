"""One GC run at a time across every replica and cron host: a lease in the database
(``gc_lock``), renewed while the run goes on. A run that loses its lease stops at the next
batch boundary. PostgreSQL keeps the same lease row (not a session advisory lock: the
explicit clock keeps try/renew/unlock identical on both stores, and a killed collector's
lease simply runs out)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid

from wharf.registry.metadata.base import MetadataStore

log = logging.getLogger("wharf.gc")

LEASE_SECONDS = 60.0


class GCBusy(Exception):
    """Another run holds the lock."""


class Lease:
    def __init__(self, store: MetadataStore, lease_seconds: float = LEASE_SECONDS) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lost = False
        self._task: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        now = time.time()
        if not await self.store.gc_try_lock(self.owner, now + self.lease_seconds, now):
            raise GCBusy("another garbage collection is running (one run at a time)")
        self._task = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                held = await self.store.gc_renew_lock(self.owner, time.time() + self.lease_seconds)
            except Exception:
                log.exception("cannot renew the GC lease")
                continue
            if not held:
                log.error("the GC lease was lost; stopping")
                self.lost = True
                return

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.store.gc_unlock(self.owner)
