"""The collector: one run, phase by phase.

Safety protocol (see also ``wharf.registry.content.pins``):

* Marks live in the database (``gc_marks``), never in a Python set: memory stays bounded
  by one batch (``BATCH`` digests) whatever the store's size.
* Manifests (``--delete-untagged`` only) are deleted in transactions that first mark what
  became reachable since the run started (tags written, manifests created, and their
  closure), so a concurrent tag or push can't lose what it points at; each deletion bumps
  the repository's generation so cached lookups die in every worker.
* Blobs go in two phases: a transaction re-checks each candidate (unreferenced, not seen
  since the cutoff, not pinned by an upload in flight) and marks it ``deleting`` — from
  then on the API answers 404 for it and an upload of that digest waits; then the bytes go;
  then the row. A run killed in between leaves ``deleting`` rows that the next run
  finishes first.
* Stored objects the metadata doesn't know (orphans) are claimed the same way (a
  ``deleting`` row inserted unless an upload pinned the digest) before their bytes go.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from wharf.gc.lock import Lease
from wharf.gc.progress import Progress
from wharf.registry.content.cache import Generations
from wharf.registry.events import SYSTEM, Actor, EventBus, GarbageCollected
from wharf.registry.metadata.base import MetadataStore
from wharf.storage.base import Driver, StorageError

log = logging.getLogger("wharf.gc")

BATCH = 500  # digests per claim/delete/forget round: the memory bound of a run
DELETE_CONCURRENCY = 8  # object deletions in flight (S3 round trips)
TEMP_MIN_AGE = 3600.0  # driver temp files younger than this may belong to a live write


@dataclass(frozen=True, slots=True)
class Options:
    grace: float = 3600.0
    upload_ttl: float = 86400.0
    delete_untagged: bool = False
    project: str | None = None
    dry_run: bool = False

    def parameters(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Report:
    run_id: int = 0
    status: str = "Running"  # Success, Error, Stopped
    dry_run: bool = False
    manifests_total: int = 0
    manifests_marked: int = 0
    manifests_swept: int = 0
    blobs_total: int = 0
    blobs_swept: int = 0
    bytes_freed: int = 0
    leftovers_finished: int = 0
    orphans_swept: int = 0
    orphan_bytes: int = 0
    uploads_purged: int = 0
    staging_purged: int = 0
    temp_purged: int = 0
    errors: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    message: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def text(self) -> str:
        what = "would go" if self.dry_run else "swept"
        lines = [
            f"gc run {self.run_id}: {self.status}{' (dry run)' if self.dry_run else ''}"
            + (f" — {self.message}" if self.message else ""),
            f"  manifests: {self.manifests_total} total, {self.manifests_marked} marked, "
            f"{self.manifests_swept} {what}",
            f"  blobs:     {self.blobs_total} total, {self.blobs_swept} {what}, "
            f"{self.bytes_freed} bytes",
            f"  orphans:   {self.orphans_swept} {what}, {self.orphan_bytes} bytes; "
            f"interrupted deletions finished: {self.leftovers_finished}",
            f"  uploads:   {self.uploads_purged} sessions, {self.staging_purged} staging "
            f"areas, {self.temp_purged} temp files",
        ]
        if self.errors:
            lines.append(f"  errors:    {self.errors} (see the log)")
        phases = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in self.phases.items())
        lines.append(f"  time:      {self.finished - self.started:.2f}s ({phases})")
        return "\n".join(lines)


class Stop(Exception):
    """A signal or a lost lease: end at a batch boundary."""


def _digest_of_key(key: str) -> str | None:
    """``blobs/sha256/ab/abcd…`` → ``sha256:abcd…`` (None: not a blob key)."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "blobs" or not parts[2] or not parts[3].startswith(parts[2]):
        return None
    return f"{parts[1]}:{parts[3]}"


def _key_of(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"blobs/{algorithm}/{hexpart[:2]}/{hexpart}"


class Run:
    def __init__(
        self,
        store: MetadataStore,
        driver: Driver,
        generations: Generations,
        options: Options,
        progress: Progress,
        lease: Lease,
        say: Callable[[str], Awaitable[None]],
    ) -> None:
        self.store = store
        self.driver = driver
        self.generations = generations
        self.options = options
        self.progress = progress
        self.lease = lease
        self.say = say
        self.stopping = False
        self.stop: asyncio.Event | None = None
        self.report = Report(dry_run=options.dry_run)
        self.start = time.time()
        self.cutoff = self.start - options.grace

    def check(self) -> None:
        if self.stopping or (self.stop is not None and self.stop.is_set()):
            raise Stop("stopped by a signal")
        if self.lease.lost:
            raise Stop("the GC lease was lost")

    async def phase(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        self.check()
        self.progress.start(name)
        began = time.monotonic()
        try:
            await body()
        finally:
            self.report.phases[name] = round(time.monotonic() - began, 3)
            self.progress.end()
        await self.say(f"{name}: done in {self.report.phases[name]:.2f}s")

    async def execute(self) -> None:
        r = self.report
        r.manifests_total, r.blobs_total, _ = await self.store.gc_totals()
        whole = self.options.project is None
        if not self.options.dry_run:
            await self.phase("finish-interrupted", self.finish_interrupted)
        await self.phase("mark", self.mark)
        if self.options.dry_run:
            await self.phase("preview", self.preview)
        else:
            if self.options.delete_untagged:
                await self.phase("sweep-manifests", self.sweep_manifests)
            await self.phase("sweep-blobs", self.sweep_blobs)
        await self.phase("uploads", self.purge_uploads)
        if whole:
            await self.phase("orphans", self.sweep_orphans)
            await self.phase("temp", self.purge_temp)

    # --- phases ----------------------------------------------------------------
    async def finish_interrupted(self) -> None:
        after = ""
        while True:
            self.check()
            batch = await self.store.gc_deleting(after, BATCH)
            if not batch:
                return
            after = batch[-1][0]
            freed = await self._delete_bytes(batch)
            self.report.leftovers_finished += await self.store.gc_forget_blobs(freed)
            self.progress.update(self.report.leftovers_finished, "blobs")

    async def mark(self) -> None:
        # without --delete-untagged every manifest is a root (cutoff -inf)
        cutoff = self.cutoff if self.options.delete_untagged else -math.inf
        self.report.manifests_marked = await self.store.gc_mark(cutoff, self.options.project)

    async def preview(self) -> None:
        manifests, blobs, size = await self.store.gc_preview(self.cutoff, self.options.project)
        if self.options.delete_untagged:
            self.report.manifests_swept = manifests
        self.report.blobs_swept, self.report.bytes_freed = blobs, size

    async def sweep_manifests(self) -> None:
        while True:
            self.check()
            deleted = await self.store.gc_sweep_manifests(
                self.start, self.cutoff, self.options.project, BATCH
            )
            if not deleted:
                return
            for repo in {repo for repo, _ in deleted}:
                await self.generations.bump(repo)
            self.report.manifests_swept += len(deleted)
            self.progress.update(self.report.manifests_swept, "manifests")

    async def sweep_blobs(self) -> None:
        after = ""
        while True:
            self.check()
            candidates = await self.store.gc_blob_candidates(
                after, self.cutoff, self.options.project, BATCH
            )
            if not candidates:
                return
            after = candidates[-1]
            claimed = await self.store.gc_claim_blobs(candidates, self.cutoff, time.time())
            if not claimed:
                continue
            freed = await self._delete_bytes(claimed)
            await self.store.gc_forget_blobs(freed)
            sizes = dict(claimed)
            self.report.blobs_swept += len(freed)
            self.report.bytes_freed += sum(sizes[d] for d in freed)
            self.progress.update(self.report.blobs_swept, "blobs")

    async def purge_uploads(self) -> None:
        now = time.time()
        project = self.options.project
        for session in await self.store.list_uploads(now - self.options.upload_ttl):
            self.check()
            if project is not None and not session.repo.startswith(project + "/"):
                continue
            if self.options.dry_run:
                self.report.uploads_purged += 1
                continue
            # the write lease keeps a client that wakes up now from writing meanwhile
            if not await self.store.claim_upload(session.id, self.lease.owner, now + 600, now):
                continue
            try:
                await self.driver.delete_upload(session.id, session.driver_state)
            except StorageError as exc:
                self.report.errors += 1
                await self.say(f"uploads: cannot delete staging of {session.id}: {exc}")
                continue
            await self.store.delete_upload(session.id)
            self.report.uploads_purged += 1
            self.progress.update(self.report.uploads_purged, "sessions")
        if project is not None:
            return
        # staging (and abandoned S3 multipart uploads) no session row knows
        async for info in self.driver.list_uploads():
            self.check()
            if info.mtime >= now - self.options.upload_ttl:
                continue
            if await self.store.get_upload(info.key) is not None:
                continue
            if not self.options.dry_run:
                await self.driver.delete_upload(info.key, "")
            self.report.staging_purged += 1

    async def sweep_orphans(self) -> None:
        batch: list[tuple[str, int]] = []
        async for info in self.driver.list("blobs"):
            digest = _digest_of_key(info.key)
            if digest is None or info.mtime >= self.cutoff:
                continue
            batch.append((digest, info.size))
            if len(batch) >= BATCH:
                await self._orphan_batch(batch)
                batch = []
        if batch:
            await self._orphan_batch(batch)

    async def _orphan_batch(self, batch: list[tuple[str, int]]) -> None:
        self.check()
        now = time.time()
        unknown = set(await self.store.gc_unknown_digests([d for d, _ in batch], now))
        items = [(d, size) for d, size in batch if d in unknown]
        if not items:
            return
        if self.options.dry_run:
            self.report.orphans_swept += len(items)
            self.report.orphan_bytes += sum(size for _, size in items)
            return
        claimed = set(await self.store.gc_claim_orphans(items, now))
        mine = [(d, size) for d, size in items if d in claimed]
        freed = await self._delete_bytes(mine)
        await self.store.gc_forget_blobs(freed)
        sizes = dict(mine)
        self.report.orphans_swept += len(freed)
        self.report.orphan_bytes += sum(sizes[d] for d in freed)
        self.progress.update(self.report.orphans_swept, "orphans")

    async def purge_temp(self) -> None:
        older_than = max(self.options.grace, TEMP_MIN_AGE)
        async for info in self.driver.list_stale_temp(older_than):
            self.check()
            if not self.options.dry_run:
                await self.driver.delete(info.key)
            self.report.temp_purged += 1

    async def _delete_bytes(self, items: list[tuple[str, int]]) -> list[str]:
        """Delete the objects of claimed digests; those whose bytes are gone."""
        limit = asyncio.Semaphore(DELETE_CONCURRENCY)
        gone: list[str] = []

        async def one(digest: str) -> None:
            async with limit:
                try:
                    await self.driver.delete(_key_of(digest))
                except StorageError as exc:
                    self.report.errors += 1
                    await self.say(f"cannot delete {digest}: {exc}")
                    return
                gone.append(digest)

        await asyncio.gather(*(one(d) for d, _ in items))
        return gone


async def collect(
    store: MetadataStore,
    driver: Driver,
    generations: Generations,
    options: Options,
    *,
    kind: str = "MANUAL",
    actor: Actor = SYSTEM,
    events: EventBus | None = None,
    progress: Progress | None = None,
    handle_signals: bool = False,
    on_start: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> Report:
    """One run: take the lock (``GCBusy`` when another run holds it), record the run, do
    every phase, record the outcome. ``handle_signals``: SIGINT/SIGTERM stop the run at
    the next batch boundary (status Stopped; a rerun completes the work), as does setting
    ``stop``. ``on_start`` gets the run's id once the lock is held and the run recorded."""
    lease = Lease(store)
    await lease.acquire()
    try:
        run_id = await store.gc_create_run(kind, json.dumps(options.parameters()), time.time())
        if on_start is not None:
            on_start(run_id)
        return await _run(
            store,
            driver,
            generations,
            options,
            run_id,
            lease,
            actor,
            events,
            progress or Progress(quiet=True),
            handle_signals,
            stop,
        )
    finally:
        await lease.release()


async def _run(
    store: MetadataStore,
    driver: Driver,
    generations: Generations,
    options: Options,
    run_id: int,
    lease: Lease,
    actor: Actor,
    events: EventBus | None,
    progress: Progress,
    handle_signals: bool,
    stop: asyncio.Event | None,
) -> Report:
    async def say(line: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        log.info(line, extra={"gc_run": run_id})
        await store.gc_update_run(run_id, "Running", "{}", f"{stamp} {line}\n", time.time())

    run = Run(store, driver, generations, options, progress, lease, say)
    run.stop = stop
    run.report.run_id = run_id
    run.report.started = run.start
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if handle_signals:

        def request_stop() -> None:
            run.stopping = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, request_stop)
            installed.append(sig)
    await say(f"started: {json.dumps(options.parameters())}")
    try:
        await run.execute()
        run.report.status = "Success"
    except Stop as exc:
        run.report.status = "Stopped"
        run.report.message = str(exc)
    except Exception as exc:
        log.exception("gc run failed", extra={"gc_run": run_id})
        run.report.status = "Error"
        run.report.message = f"{type(exc).__name__}: {exc}"
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    report = run.report
    report.finished = time.time()
    await store.gc_update_run(
        run_id,
        report.status,
        report.to_json(),
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {report.status}"
        f"{': ' + report.message if report.message else ''}\n",
        report.finished,
    )
    if events is not None:
        await events.publish(
            GarbageCollected(
                actor,
                run_id,
                report.status,
                report.manifests_swept,
                report.blobs_swept,
                report.bytes_freed,
                report.dry_run,
            )
        )
    return report
