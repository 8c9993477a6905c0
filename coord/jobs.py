"""Scheduled jobs that run on the leader only (the audit purge, garbage collection)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from wharf.coord.leader import LeaderLock

log = logging.getLogger("wharf.coord")


async def run_on_leader(
    lock: LeaderLock,
    interval: float,
    job: Callable[[], Awaitable[object]],
    *,
    check_every: float | None = None,
) -> None:
    """Run ``job`` every ``interval`` seconds while this process holds ``lock``; run until
    cancelled (then leadership is released). Leadership is asked for (and renewed) every
    ``check_every`` seconds (default: the lock's ``renew_every``, well under its lease).
    A process that takes over runs the job at once. A job already running when leadership
    is lost runs to its end: jobs must be safe to overlap with the next leader's first run
    (idempotent)."""
    pause = min(check_every or lock.renew_every, interval)
    next_run = 0.0
    leading = False
    try:
        while True:
            try:
                now_leading = await lock.acquire()
            except Exception:
                log.exception("leader lock failed", extra={"lock": lock.name})
                now_leading = False
            if now_leading != leading:
                leading = now_leading
                log.info(
                    "leadership " + ("taken" if leading else "lost"), extra={"lock": lock.name}
                )
                next_run = 0.0
            if leading and time.monotonic() >= next_run:
                next_run = time.monotonic() + interval
                try:
                    await job()
                except Exception:
                    log.exception("scheduled job failed", extra={"lock": lock.name})
            await asyncio.sleep(pause)
    finally:
        await asyncio.shield(lock.release())
