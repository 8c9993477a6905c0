"""Runs in another process (multiprocessing, spawn): a job runner over the test's database
(a SQLite file or a PostgreSQL URL) executing ``mark`` jobs — each leaves a file
``<job id>.<pid>`` in ``marks`` — until the group has nothing pending or running; or, with
``hang``, holding every job it claims forever (the test kills it)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from wharf.jobs.models import JobState
from wharf.jobs.runner import JobContext, JobRunner, RunnerOptions
from wharf.registry.wiring import make_job_store, postgres_database, sqlite_database


def work(location: str, marks: str, concurrency: int, lease: float, group: str, hang: bool) -> None:
    asyncio.run(_work(location, Path(marks), concurrency, lease, group, hang))


async def _work(
    location: str, marks: Path, concurrency: int, lease: float, group: str, hang: bool
) -> None:
    if location.startswith("postgresql://"):
        database: Any = postgres_database(location, pool_min=1, pool_max=3)
    else:
        database = sqlite_database(location)
    store = make_job_store(database)
    await store.open()

    async def mark(ctx: JobContext) -> dict[str, Any]:
        (marks / f"{ctx.job.id}.{os.getpid()}").touch()
        if hang:
            await asyncio.Event().wait()
        await asyncio.sleep(0.002)
        return {"pid": os.getpid()}

    options = RunnerOptions(concurrency=concurrency, lease=lease, poll_interval=0.02, backoff=0.05)
    runner = JobRunner(store, {"mark": mark}, options)
    await runner.start()
    try:
        while True:
            counts = await store.counts(group)
            if not counts.get(JobState.PENDING) and not counts.get(JobState.RUNNING):
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.close()
        await store.close()
