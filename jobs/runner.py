"""The runner each worker process of each replica starts: it claims ready jobs of the
kinds it has handlers for, runs at most ``concurrency`` at once, keeps their leases alive
and records how each ended.

- A handler is ``async def handler(ctx) -> dict | None``; what it returns is the job's
  result. Raising ``PermanentFailure`` fails the job at once; raising ``RetryLater`` or any
  other exception counts a failed attempt, retried after ``RetryLater.delay`` or an
  exponential backoff until the job's ``max_attempts`` are spent. Raising ``Postpone``
  gives the job back, due later, without counting the attempt.
- A heartbeat renews the lease every third of it. When the lease is found lost (the
  database was unreachable past the lease and the job was claimed elsewhere), the handler
  is cancelled and nothing is recorded: the new holder owns the job. When a stop was
  requested, ``ctx.stopping`` is set and the handler cancelled; the job ends ``stopped``.
- Handlers must be idempotent: a job may run again after its worker was killed midway.
- ``close()``: no new claims; running jobs get ``shutdown_grace`` seconds to end, then
  are cancelled and given back (pending at once, the interrupted attempt not counted), so
  another worker picks them up without waiting for the lease to run out.
- Idle, a runner costs one indexed read per ``poll_interval`` (``has_ready``); ``wake()``
  makes it look at once (after an enqueue in this process). Expired leases are reclaimed
  (by whichever runner looks first) every half lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wharf.jobs.models import Job, JobState, NewJob
from wharf.jobs.store import JobStore

log = logging.getLogger("wharf.jobs")

Handler = Callable[["JobContext"], Coroutine[Any, Any, dict[str, Any] | None]]


class PermanentFailure(Exception):
    """The job cannot succeed however often it is tried: fail it now."""


class RetryLater(Exception):
    """This attempt failed; try again after ``delay`` seconds (attempts allowing)."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class Postpone(Exception):
    """Not this attempt's turn (e.g. its receiver is known to be down): give the job back,
    due at ``until``, the attempt not counted and nothing logged."""

    def __init__(self, message: str, until: float) -> None:
        super().__init__(message)
        self.until = until


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    concurrency: int = 4  # jobs at once in this process
    lease: float = 30.0  # seconds a claim holds without renewal
    poll_interval: float = 1.0
    backoff: float = 5.0  # the first retry's delay; doubled each attempt, with jitter
    max_backoff: float = 600.0
    shutdown_grace: float = 10.0

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.lease <= 0 or self.poll_interval <= 0:
            raise ValueError("concurrency >= 1, lease > 0 and poll_interval > 0")

    def retry_delay(self, attempts: int) -> float:
        base = min(self.backoff * 2.0 ** max(attempts - 1, 0), self.max_backoff)
        return base * random.uniform(0.75, 1.0)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobContext:
    """What a handler gets: its job, a log, and the stop signal."""

    def __init__(self, job: Job, store: JobStore, clock: Callable[[], float]) -> None:
        self.job = job
        self.store = store
        self._clock = clock
        self.stopping = asyncio.Event()  # a stop was requested, or the runner shuts down
        self.stop_requested = False
        self.lost = False  # the lease went to another worker

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    async def log(self, message: str, level: str = "info") -> None:
        """A line of the job's log (what the API's task log shows)."""
        await self.store.append_log(self.job.id, level, message, self._clock())


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        handlers: Mapping[str, Handler],
        options: RunnerOptions | None = None,
        *,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.handlers = dict(handlers)
        self.options = options or RunnerOptions()
        self.owner = owner or worker_name()
        self.clock = clock
        self.running: dict[int, asyncio.Task[None]] = {}
        self.finished = 0  # jobs this runner recorded an outcome for
        self._wake = asyncio.Event()
        self._closing = False
        self._loop_task: asyncio.Task[None] | None = None
        self._contexts: dict[int, JobContext] = {}

    @property
    def kinds(self) -> list[str]:
        return sorted(self.handlers)

    async def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="wharf-jobs")

    def wake(self) -> None:
        self._wake.set()

    async def enqueue(self, jobs: Sequence[NewJob]) -> list[int]:
        """Enqueue, and look for work at once when one of them is due now (jobs due later
        are found by the poll)."""
        now = self.clock()
        ids = await self.store.enqueue(jobs, now)
        if any(job.run_at is None or job.run_at <= now for job in jobs):
            self.wake()
        return ids

    async def close(self) -> None:
        """Stop claiming; let running jobs end within the grace, give back the rest."""
        self._closing = True
        for ctx in self._contexts.values():
            ctx.stopping.set()  # wrap up within the grace, or be cancelled
        self.wake()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        tasks = list(self.running.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.options.shutdown_grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # --- the claim loop ------------------------------------------------------------
    async def _loop(self) -> None:
        last_reclaim = 0.0
        while not self._closing:
            self._wake.clear()
            try:
                now = self.clock()
                if now - last_reclaim >= self.options.lease / 2:
                    last_reclaim = now
                    reclaimed = await self.store.reclaim_expired(now)
                    if reclaimed:
                        log.warning("jobs of a lost worker reclaimed", extra={"count": reclaimed})
                await self._claim(now)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "job queue unavailable", extra={"error": f"{type(exc).__name__}: {exc}"}
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.options.poll_interval)

    async def _claim(self, now: float) -> None:
        free = self.options.concurrency - len(self.running)
        kinds = self.kinds
        if free <= 0 or not kinds or not await self.store.has_ready(kinds, now):
            return
        jobs = await self.store.claim(self.owner, kinds, free, now + self.options.lease, now)
        for job in jobs:
            task = asyncio.create_task(self._run(job), name=f"wharf-job-{job.id}")
            self.running[job.id] = task
            task.add_done_callback(functools.partial(self._done, job.id))
        if len(jobs) == free:
            self.wake()  # there may be more: look again once a slot frees up

    def _done(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self.running.pop(job_id, None)
        self._contexts.pop(job_id, None)
        self.wake()

    # --- one job ---------------------------------------------------------------------
    async def _run(self, job: Job) -> None:
        ctx = JobContext(job, self.store, self.clock)
        self._contexts[job.id] = ctx
        handler = self.handlers[job.kind]
        work = asyncio.create_task(handler(ctx))
        heartbeat = asyncio.create_task(self._heartbeat(ctx, work))
        try:
            outcome = await self._outcome(ctx, work)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        try:
            await self._record(ctx, *outcome)
        except Exception as exc:  # the lease runs out and the job is reclaimed
            log.warning(
                "cannot record a job's outcome",
                extra={"job": job.id, "error": f"{type(exc).__name__}: {exc}"},
            )

    async def _outcome(
        self, ctx: JobContext, work: asyncio.Task[dict[str, Any] | None]
    ) -> tuple[str, dict[str, Any] | None, str, float | None]:
        """(what to record, result, error, retry delay) once the handler ended."""
        try:
            result = await asyncio.shield(work)
        except asyncio.CancelledError:
            if not work.done():  # the runner itself was cancelled (close() gave up)
                work.cancel()
                with contextlib.suppress(BaseException):
                    await work
            if ctx.lost:
                return "lost", None, "", None
            if ctx.stop_requested:
                return "stopped", None, "stopped on request", None
            return "release", None, "", None
        except PermanentFailure as exc:
            return "failed", None, str(exc) or type(exc).__name__, None
        except RetryLater as exc:
            return "retry", None, str(exc), exc.delay
        except Postpone as exc:
            return "postpone", None, str(exc), exc.until
        except Exception as exc:
            return "retry", None, f"{type(exc).__name__}: {exc}", None
        return "succeeded", result, "", None

    async def _record(
        self,
        ctx: JobContext,
        what: str,
        result: dict[str, Any] | None,
        error: str,
        delay: float | None,  # retry: seconds to wait; postpone: when it is due
    ) -> None:
        job, now = ctx.job, self.clock()
        if what == "lost":
            log.warning("a job's lease was lost; left to its new holder", extra={"job": job.id})
            return
        if what == "release":
            await self.store.release(job.id, self.owner, now)
            log.info("job given back at shutdown", extra={"job": job.id, "kind": job.kind})
            return
        if what == "postpone":
            await self.store.release(job.id, self.owner, now, run_at=delay)
            return
        if what == "retry":
            wait = self.options.retry_delay(job.attempts) if delay is None else delay
            state = await self.store.retry(job.id, self.owner, now + wait, error, now)
            if state is JobState.FAILED:
                await ctx.log(f"attempt {job.attempts} failed, no attempt left: {error}", "error")
            elif state is JobState.PENDING:
                await ctx.log(
                    f"attempt {job.attempts} failed, next in {wait:.1f}s: {error}", "warning"
                )
            self.finished += state is not None
            return
        state = JobState(what)
        if await self.store.finish(job.id, self.owner, state, now, result=result, error=error):
            self.finished += 1
        if state is JobState.FAILED:
            await ctx.log(f"failed: {error}", "error")

    async def _heartbeat(self, ctx: JobContext, work: asyncio.Task[Any]) -> None:
        every = self.options.lease / 3
        while not work.done():
            await asyncio.sleep(every)
            try:
                lease = await self.store.renew(
                    ctx.job.id, self.owner, self.clock() + self.options.lease
                )
            except Exception as exc:
                log.warning(
                    "cannot renew a job's lease",
                    extra={"job": ctx.job.id, "error": f"{type(exc).__name__}: {exc}"},
                )
                continue
            if not lease.held:
                ctx.lost = True
                ctx.stopping.set()
                work.cancel()
                return
            if lease.stop_requested:
                ctx.stop_requested = True
                ctx.stopping.set()
                work.cancel()
                return
