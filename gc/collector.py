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
* A pin keeps a digest for its own 15 minutes whatever ``grace`` says: it covers a commit
  in flight, which the grace window (about ``last_seen``) can't (README: "Pins and
  --grace").
* Every transaction that writes marks or claims something is fenced by the run's lock
  token (``wharf.gc.lock``): a run that stalled past its lease and lost the lock to
  another run stops there, having deleted nothing more.
* A dry run writes nothing at all — no lock, no marks, no run record (unless the Harbor
  API started it: its record is where the API returns the result): it counts what a run
  would take with reads only (``MetadataStore.gc_preview``) and lists the storage.
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

from wharf.gc.lock import LOST_TAKEN, Lease
from wharf.gc.progress import Progress
from wharf.registry.content.cache import Generations
from wharf.registry.events import SYSTEM, Actor, EventBus, GarbageCollected
from wharf.registry.metadata.base import GCLockLost, MetadataStore
from wharf.storage.base import Driver, StorageError

log = logging.getLogger("wharf.gc")

BATCH = 500  # digests per claim/delete/forget round: the memory bound of a run
DELETE_CONCURRENCY = 8  # object deletions in flight (S3 round trips), by default
MAX_WORKERS = 10  # Harbor's bound on its "workers" parameter
TEMP_MIN_AGE = 3600.0  # driver temp files younger than this may belong to a live write
STOP_POLL = 1.0  # how often a recorded run looks for a stop asked through the API


@dataclass(frozen=True, slots=True)
class Options:
    grace: float = 3600.0
    upload_ttl: float = 86400.0
    delete_untagged: bool = False
    project: str | None = None
    dry_run: bool = False
    workers: int = DELETE_CONCURRENCY  # object deletions in flight (Harbor's "workers")

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS}")

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
        done = "to finish" if self.dry_run else "finished"
        name = f"gc run {self.run_id}" if self.run_id else "gc"
        lines = [
            f"{name}: {self.status}{' (dry run)' if self.dry_run else ''}"
            + (f" — {self.message}" if self.message else ""),
            f"  manifests: {self.manifests_total} total, {self.manifests_marked} marked, "
            f"{self.manifests_swept} {what}",
            f"  blobs:     {self.blobs_total} total, {self.blobs_swept} {what}, "
            f"{self.bytes_freed} bytes",
            f"  orphans:   {self.orphans_swept} {what}, {self.orphan_bytes} bytes; "
            f"interrupted deletions {done}: {self.leftovers_finished}",
            f"  uploads:   {self.uploads_purged} sessions, {self.staging_purged} staging "
            f"areas, {self.temp_purged} temp files {what}",
        ]
        if self.errors:
            lines.append(f"  errors:    {self.errors} (see the log)")
        phases = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in self.phases.items())
        lines.append(f"  time:      {self.finished - self.started:.2f}s ({phases})")
        return "\n".join(lines)


class Stop(Exception):
    """A signal or a stop asked through the API: end at a batch boundary."""


LEASE_LOST = (
    "lost the GC lock: {why}; stopped before deleting anything more "
    "(the run holding the lock now does the work)"
)


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
        lease: Lease | None,
        say: Callable[[str], Awaitable[None]],
        run_id: int = 0,
    ) -> None:
        self.store = store
        self.driver = driver
        self.generations = generations
        self.options = options
        self.progress = progress
        self.lease = lease  # None: a dry run, which holds no lock
        self.say = say
        self.run_id = run_id  # 0: not recorded
        self.stopping = False
        self.stop: asyncio.Event | None = None
        self.report = Report(dry_run=options.dry_run)
        self.start = time.time()
        self.cutoff = self.start - options.grace
        self._stop_polled = time.monotonic()

    @property
    def token(self) -> int:
        assert self.lease is not None, "a dry run changes nothing"
        return self.lease.token

    async def check(self) -> None:
        """At every batch boundary: a signal or a stop request ends the run (``Stop``),
        and so does a lease this run no longer holds (``GCLockLost``)."""
        if self.stopping:
            raise Stop("stopped by a signal")
        if self.stop is not None and self.stop.is_set():
            raise Stop("stopped on request")
        if self.run_id and time.monotonic() - self._stop_polled >= STOP_POLL:
            self._stop_polled = time.monotonic()
            if await self.store.gc_stop_requested(self.run_id):
                raise Stop("stopped on request (PUT /api/v2.0/system/gc/{id})")
        if self.lease is not None:
            await self.lease.ensure()

    async def phase(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        await self.check()
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
        if self.options.dry_run:
            await self.phase("preview", self.preview)
        else:
            await self.phase("finish-interrupted", self.finish_interrupted)
            await self.phase("mark", self.mark)
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
            await self.check()
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
        self.report.manifests_marked = await self.store.gc_mark(
            cutoff, self.options.project, token=self.token
        )

    async def preview(self) -> None:
        """A dry run's mark and sweeps in one: counted with reads only."""
        found = await self.store.gc_preview(
            self.cutoff, self.options.project, self.options.delete_untagged
        )
        self.report.manifests_marked = found.manifests_reached
        self.report.manifests_swept = found.manifests
        self.report.blobs_swept, self.report.bytes_freed = found.blobs, found.size
        self.report.leftovers_finished = found.interrupted

    async def sweep_manifests(self) -> None:
        while True:
            await self.check()
            deleted = await self.store.gc_sweep_manifests(
                self.start, self.cutoff, self.options.project, BATCH, token=self.token
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
            await self.check()
            candidates = await self.store.gc_blob_candidates(
                after, self.cutoff, self.options.project, BATCH
            )
            if not candidates:
                return
            after = candidates[-1]
            claimed = await self.store.gc_claim_blobs(
                candidates, self.cutoff, time.time(), token=self.token
            )
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
            await self.check()
            if project is not None and not session.repo.startswith(project + "/"):
                continue
            if self.lease is None:  # a dry run
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
            await self.check()
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
        await self.check()
        now = time.time()
        unknown = set(await self.store.gc_unknown_digests([d for d, _ in batch], now))
        items = [(d, size) for d, size in batch if d in unknown]
        if not items:
            return
        if self.options.dry_run:
            self.report.orphans_swept += len(items)
            self.report.orphan_bytes += sum(size for _, size in items)
            return
        claimed = set(await self.store.gc_claim_orphans(items, now, token=self.token))
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
            await self.check()
            if not self.options.dry_run:
                await self.driver.delete(info.key)
            self.report.temp_purged += 1

    async def _delete_bytes(self, items: list[tuple[str, int]]) -> list[str]:
        """Delete the objects of claimed digests; those whose bytes are gone."""
        limit = asyncio.Semaphore(self.options.workers)
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
    record: bool | None = None,
    lease_seconds: float | None = None,
) -> Report:
    """One run: take the lock (``GCBusy`` when another run holds it), record the run, do
    every phase, record the outcome. ``handle_signals``: SIGINT/SIGTERM stop the run at
    the next batch boundary (status Stopped; a rerun completes the work), as does setting
    ``stop`` or a stop asked through the API. ``on_start`` gets the run's id once the
    lock is held and the run recorded.

    A dry run takes no lock and, unless ``record`` (the Harbor API's runs), records
    nothing: it writes nowhere, and its report is the only result. A run that loses the
    lock to another run ends with status Error and says so."""
    if record is None:
        record = not options.dry_run
    lease: Lease | None = None
    if not options.dry_run:
        lease = Lease(store) if lease_seconds is None else Lease(store, lease_seconds)
        await lease.acquire()
    try:
        run_id = 0
        if record:
            token = None if lease is None else lease.token
            parameters = json.dumps(options.parameters())
            run_id = await store.gc_create_run(kind, parameters, time.time(), token=token)
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
        if lease is not None:
            await lease.release()


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


async def _run(
    store: MetadataStore,
    driver: Driver,
    generations: Generations,
    options: Options,
    run_id: int,
    lease: Lease | None,
    actor: Actor,
    events: EventBus | None,
    progress: Progress,
    handle_signals: bool,
    stop: asyncio.Event | None,
) -> Report:
    async def say(line: str) -> None:
        log.info(line, extra={"gc_run": run_id})
        if run_id:
            await store.gc_update_run(run_id, "Running", "{}", f"{_stamp()} {line}\n", time.time())

    run = Run(store, driver, generations, options, progress, lease, say, run_id)
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
    except GCLockLost:
        assert lease is not None
        lease.give_up(LOST_TAKEN)
        run.report.status = "Error"
        run.report.message = LEASE_LOST.format(why=lease.lost)
        log.error(run.report.message, extra={"gc_run": run_id, "token": lease.token})
    except Exception as exc:
        log.exception("gc run failed", extra={"gc_run": run_id})
        run.report.status = "Error"
        run.report.message = f"{type(exc).__name__}: {exc}"
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    report = run.report
    report.finished = time.time()
    if run_id:
        await store.gc_update_run(
            run_id,
            report.status,
            report.to_json(),
            "".join(f"{_stamp()} {line}\n" for line in report.text().splitlines()),
            report.finished,
        )
    if events is not None and run_id:
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
