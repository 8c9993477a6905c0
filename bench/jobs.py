"""Claim throughput of the job queue (``wharf.jobs``) on SQLite and PostgreSQL.

    python -m bench.jobs                          # SQLite, and a throwaway PostgreSQL
    python -m bench.jobs --jobs 20000 --processes 4 --batch 1,10

``--jobs`` pending jobs are enqueued, then ``--processes`` processes each loop
``claim(limit=batch)`` → ``finish`` until the queue is empty (the store calls a runner
makes, without the runner's polling pauses). The figure is jobs claimed and finished per
second, all processes together, from the moment they all started; the check afterwards
is that every job succeeded exactly once (attempts 1). PostgreSQL: a throwaway server
from ``tests/services.py`` (fsync off), or ``--postgres URL`` (its ``jobs`` tables are
emptied first), its statistics refreshed (ANALYZE) after the enqueue."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from wharf.jobs.models import JobState, NewJob
from wharf.registry.wiring import make_job_store, postgres_database, sqlite_database


def _database(location: str, pool: int) -> Any:
    if location.startswith("postgresql://"):
        return postgres_database(location, pool_min=1, pool_max=pool)
    return sqlite_database(location)


async def _prepare(location: str, jobs: int) -> None:
    database = _database(location, 2)
    store = make_job_store(database)
    await store.open()
    try:
        if location.startswith("postgresql://"):
            await database.read(lambda db: db.execute("DELETE FROM jobs"))
        else:
            await database.write(lambda db: db.execute("DELETE FROM jobs"))
        now = time.time()
        for start in range(0, jobs, 1000):
            count = min(1000, jobs - start)
            await store.enqueue([NewJob("bench", {"i": start + i}) for i in range(count)], now)
        if location.startswith("postgresql://"):
            # steady state: autovacuum keeps the statistics current; right after a bulk
            # enqueue they are not, and the planner sorts the whole queue on each claim
            await database.read(lambda db: db.execute("ANALYZE jobs"))
    finally:
        await store.close()


def _claimer(location: str, batch: int, barrier: Barrier, results: Any) -> None:
    results.put(asyncio.run(_claim_all(location, batch, barrier)))


async def _claim_all(location: str, batch: int, barrier: Barrier) -> tuple[int, float, float]:
    store = make_job_store(_database(location, 2))
    await store.open()
    owner = f"bench-{multiprocessing.current_process().pid}"
    done = 0
    await asyncio.to_thread(barrier.wait)
    started = time.time()
    try:
        while True:
            now = time.time()
            jobs = await store.claim(owner, ["bench"], batch, now + 60, now)
            if not jobs:
                break
            for job in jobs:
                await store.finish(job.id, owner, JobState.SUCCEEDED, time.time())
            done += len(jobs)
    finally:
        await store.close()
    return done, started, time.time()


async def _check(location: str, jobs: int) -> None:
    store = make_job_store(_database(location, 2))
    await store.open()
    try:
        found, total = await store.find(states=[JobState.SUCCEEDED], limit=1)
        assert total == jobs, f"{total} of {jobs} jobs succeeded"
        pending = (await store.find(states=[JobState.PENDING, JobState.RUNNING]))[1]
        assert pending == 0
        if location.startswith("postgresql://"):
            database = _database(location, 1)
            await database.open()
            try:
                extra = await database.read(
                    lambda db: db.fetchval("SELECT count(*) FROM jobs WHERE attempts <> 1")
                )
            finally:
                await database.close()
            assert extra == 0, "a job was claimed twice"
        del found
    finally:
        await store.close()


def measure(location: str, jobs: int, processes: int, batch: int) -> float:
    asyncio.run(_prepare(location, jobs))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=_claimer, args=(location, batch, barrier, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(60)
    asyncio.run(_check(location, jobs))
    claimed = sum(o[0] for o in outcomes)
    assert claimed == jobs, f"claimed {claimed} of {jobs}"
    elapsed = max(o[2] for o in outcomes) - min(o[1] for o in outcomes)
    return float(jobs / elapsed)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs")
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--batch", default="1,10")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (else a throwaway)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    batches = [int(b) for b in args.batch.split(",")]
    rows: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="wharf-bench-jobs.") as work:
        sqlite = str(Path(work) / "wharf.db")
        for batch in batches:
            rows.append(("sqlite", batch, measure(sqlite, args.jobs, args.processes, batch)))
    if not args.no_postgres:
        if args.postgres:
            for batch in batches:
                rate = measure(args.postgres, args.jobs, args.processes, batch)
                rows.append(("postgres", batch, rate))
        else:
            from tests.services import run_postgres

            with run_postgres() as pg:
                url = pg.create_database("benchjobs")
                for batch in batches:
                    rows.append(("postgres", batch, measure(url, args.jobs, args.processes, batch)))
    print(f"{args.jobs} jobs, {args.processes} processes claiming and finishing")
    for backend, batch, rate in rows:
        print(f"  {backend:9s} claim(limit={batch:<3d})  {rate:8.0f} jobs/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
