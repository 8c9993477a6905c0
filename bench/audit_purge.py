"""The audit-log purge on SQLite: how fast a batched purge deletes, how long each batch
takes, and what it does to a small write waiting for the same (single) writer meanwhile.

    python -m bench.audit_purge                      # 1,000,000 events, half selected
    python -m bench.audit_purge --events 200000 --batch 2000

``--events`` events alternate between operations ``pull`` and ``create``, all old; the
purge selects the pulls (``include_event_types: pull``), as Harbor's purge job would, in
batches of ``--batch`` (``AuditPurgeService``'s default 5,000). While it runs, a writer
records one audit event every 10 ms and times each write. For scale, the other half is
then deleted by the unbatched ``DELETE`` of the retention purge's first version."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from wharf.auth.audit_purge import BATCH
from wharf.auth.models import AuditEvent
from wharf.auth.sqlite_store import SQLiteAuthStore
from wharf.auth.store import AuditPurge, PurgeCursor
from wharf.registry.wiring import sqlite_database


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(events: int, batch: int, folder: Path) -> None:
    database = sqlite_database(folder / "wharf.db")
    await database.open()
    store = SQLiteAuthStore(database)
    await store.open()
    try:
        started = time.perf_counter()
        for first in range(0, events, 50_000):
            await store.add_events(
                [
                    AuditEvent("u", "pull" if i % 2 else "create", "artifact", "p/a:1", time=i)
                    for i in range(first, min(events, first + 50_000))
                ]
            )
        print(f"seeded {events:,} events in {time.perf_counter() - started:.1f} s")
        selection = AuditPurge(float(events), operations=("pull",))
        started = time.perf_counter()
        count = await store.count_purgeable_events(selection)
        print(f"dry run: {count:,} selected, counted in {time.perf_counter() - started:.2f} s")

        waits: list[float] = []
        done = asyncio.Event()

        async def writer() -> None:
            while not done.is_set():
                at = time.perf_counter()
                await store.add_events([AuditEvent("w", "login", "user", "w", time=1e12)])
                waits.append(time.perf_counter() - at)
                await asyncio.sleep(0.01)

        background = asyncio.create_task(writer())
        batches: list[float] = []
        purged = 0
        after: PurgeCursor | None = None
        started = time.perf_counter()
        while True:
            at = time.perf_counter()
            went, after = await store.purge_events_batch(selection, batch, after)
            batches.append(time.perf_counter() - at)
            purged += went
            if after is None:
                break
        elapsed = time.perf_counter() - started
        done.set()
        await background
        print(
            f"purged {purged:,} in {elapsed:.1f} s ({purged / elapsed:,.0f} rows/s); "
            f"{len(batches)} batches of {batch}: median {_ms(batches, 0.5):.0f} ms, "
            f"p99 {_ms(batches, 0.99):.0f} ms"
        )
        print(
            f"a 1-event write meanwhile ({len(waits)}): median {_ms(waits, 0.5):.1f} ms, "
            f"p99 {_ms(waits, 0.99):.0f} ms, max {_ms(waits, 1.0):.0f} ms"
        )
        started = time.perf_counter()
        rest = await store.purge_events(float(events))
        print(
            f"for scale, one unbatched DELETE of the other {rest:,}: "
            f"{time.perf_counter() - started:.1f} s holding the writer"
        )
    finally:
        await store.close()
        await database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=BATCH)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wharf-bench-purge-") as folder:
        asyncio.run(run(args.events, args.batch, Path(folder)))


if __name__ == "__main__":
    main()
