"""One GC run at a time across every replica and cron host: a lease in the database
(``gc_lock``), renewed in the background while the run goes on, with a fencing token.

The lease alone is not enough: a run that stalls longer than its lease (SIGSTOP, a long
database stall, a laptop lid) may find, once it resumes, that another run took the lock
over meanwhile and is rewriting the marks this one relies on. So each acquisition numbers
the run (the token, only ever growing), marks are written with it, and every transaction
that marks or claims something for deletion checks, inside itself, that the lock still
carries the token (``GCLockLost`` otherwise, having changed nothing). The renewal task
and the run's batch boundaries only make a stale run notice early; the check in the
transaction is what makes it safe, whatever the clocks say.

PostgreSQL keeps the same lease row (not a session advisory lock: the explicit clock keeps
try/renew/unlock identical on both stores, and a killed collector's lease simply runs
out)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid

from wharf.registry.metadata.base import GCLockLost, MetadataStore

log = logging.getLogger("wharf.gc")

LEASE_SECONDS = 60.0

LOST_TAKEN = "another run took the GC lock over (this run stalled past its lease)"
LOST_UNRENEWED = "the GC lease could not be renewed before it ran out"


class GCBusy(Exception):
    """Another run holds the lock."""


class Lease:
    def __init__(self, store: MetadataStore, lease_seconds: float = LEASE_SECONDS) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.token = 0
        self.lost = ""  # why the lease was lost; empty while held
        self._valid_until = 0.0  # monotonic: the lease's end as this process last knew it
        self._renewing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        asked = time.monotonic()
        now = time.time()
        token = await self.store.gc_try_lock(self.owner, now + self.lease_seconds, now)
        if token is None:
            raise GCBusy("another garbage collection is running (one run at a time)")
        self.token = token
        self._valid_until = asked + self.lease_seconds
        self._task = asyncio.create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        while not self.lost:
            await asyncio.sleep(self.lease_seconds / 3)
            await self.renew()

    async def renew(self) -> bool:
        """Extend the lease now; False (and ``lost`` says why) when it is gone: taken over,
        or not renewable before it ran out (the database unreachable meanwhile)."""
        async with self._renewing:
            if self.lost:
                return False
            asked = time.monotonic()
            try:
                held = await self.store.gc_renew_lock(
                    self.owner, self.token, time.time() + self.lease_seconds
                )
            except Exception:
                log.exception("cannot renew the GC lease")
                if time.monotonic() >= self._valid_until:
                    self.give_up(LOST_UNRENEWED)
                return False
            if not held:
                self.give_up(LOST_TAKEN)
                return False
            self._valid_until = asked + self.lease_seconds
            return True

    def give_up(self, why: str) -> None:
        if not self.lost:
            log.error("GC lease lost; stopping", extra={"reason": why, "token": self.token})
            self.lost = why

    async def ensure(self) -> None:
        """Raise ``GCLockLost`` unless the lease is held. Past its end as this process
        knows it (the process stalled, or renewals failed), it is renewed first: a lease
        nobody took over meanwhile is still this run's."""
        if not self.lost and time.monotonic() >= self._valid_until:
            await self.renew()
        if self.lost:
            raise GCLockLost(self.token)

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if not self.lost:
            await self.store.gc_unlock(self.owner, self.token)
