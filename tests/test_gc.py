"""Garbage collection in-process (content core + SQLite + filesystem): marking over tricky
graphs, the grace window, dry runs, orphans/uploads/temp, interrupted runs, the lock, and
a bounded concurrency stress test with GC looping at a zero grace window. The tricky
graphs and the stress test also run on PostgreSQL (``services``: a throwaway server)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from wharf.db.errors import DatabaseUnavailable
from wharf.gc import GCBusy, Options, Report, collect
from wharf.gc.lock import LOST_TAKEN, LOST_UNRENEWED, Lease
from wharf.registry.content import pins
from wharf.registry.content.cache import InProcessGenerations
from wharf.registry.content.service import ContentService
from wharf.registry.events import SYSTEM, EventBus, GarbageCollected
from wharf.registry.metadata.base import GCLockLost, MetadataStore
from wharf.registry.metadata.postgres import PostgresStore
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.oci.errors import RegistryError
from wharf.registry.oci.names import parse_digest
from wharf.registry.wiring import postgres_database, sqlite_database
from wharf.storage.filesystem import FilesystemDriver

from .services import Postgres

T = TypeVar("T")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OLD = 1000.0


@pytest.fixture(autouse=True)
def short_pins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pins protect a digest only while its bytes are published (tests age content by
    hand; a pin of the default length would keep everything)."""
    monkeypatch.setattr(pins, "PIN_SECONDS", 0.5)


StoreFactory = Callable[[], MetadataStore]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def metadata(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """The metadata store of a test that runs on both backends (PostgreSQL: a database of
    its own on the session's server)."""
    if request.param == "sqlite":
        return lambda: SQLiteStore(sqlite_database(tmp_path / "meta.db"))
    pg: Postgres = request.getfixturevalue("postgres")
    url = pg.create_database(f"gc_{uuid.uuid4().hex[:12]}")
    return lambda: PostgresStore(postgres_database(url, pool_min=1, pool_max=8))


def run(
    tmp_path: Path,
    scenario: Callable[[ContentService], Awaitable[T]],
    metadata: StoreFactory | None = None,
) -> T:
    async def main() -> T:
        if metadata is None:
            store: MetadataStore = SQLiteStore(sqlite_database(tmp_path / "meta.db"))
        else:
            store = metadata()
        driver = FilesystemDriver(tmp_path / "storage")
        await store.open()
        await driver.start()
        try:
            return await scenario(ContentService(store, driver))
        finally:
            await store.close()

    return asyncio.run(main())


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def blob(svc: ContentService, repo: str, data: bytes) -> dict[str, object]:
    await svc.uploads.whole(repo, parse_digest(sha(data)), body(data), SYSTEM)
    return {"mediaType": "application/octet-stream", "digest": sha(data), "size": len(data)}


async def image(
    svc: ContentService,
    repo: str,
    layers: list[bytes],
    tag: str | None,
    subject: dict[str, object] | None = None,
) -> dict[str, object]:
    config = await blob(svc, repo, b'{"architecture":"amd64","os":"linux","n":"' + repo.encode())
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {**config, "mediaType": "application/vnd.oci.image.config.v1+json"},
        "layers": [await blob(svc, repo, layer) for layer in layers],
    }
    if subject is not None:
        doc["subject"] = subject
        doc["artifactType"] = "application/example"
    return await put(svc, repo, doc, OCI_MANIFEST, tag)


async def index(
    svc: ContentService, repo: str, children: list[dict[str, object]], tag: str | None
) -> dict[str, object]:
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    return await put(svc, repo, doc, OCI_INDEX, tag)


async def put(
    svc: ContentService, repo: str, doc: dict[str, object], media_type: str, tag: str | None
) -> dict[str, object]:
    raw = json.dumps(doc).encode()
    reference = tag if tag is not None else parse_digest(sha(raw))
    await svc.manifests.put(repo, reference, raw, media_type, SYSTEM)
    return {"mediaType": media_type, "digest": sha(raw), "size": len(raw)}


async def age_everything(svc: ContentService) -> None:
    """As if all of it had been pushed long ago."""
    if isinstance(svc.store, PostgresStore):

        async def aged(db: object) -> None:
            await db.execute("UPDATE blobs SET last_seen = $1, created = $1", OLD)  # type: ignore[attr-defined]
            await db.execute("UPDATE manifests SET created = $1", OLD)  # type: ignore[attr-defined]

        await svc.store.database.write(aged)
    else:
        assert isinstance(svc.store, SQLiteStore)

        def change(db: object) -> None:
            db.execute("UPDATE blobs SET last_seen = ?, created = ?", (OLD, OLD))  # type: ignore[attr-defined]
            db.execute("UPDATE manifests SET created = ?", (OLD,))  # type: ignore[attr-defined]

        await svc.store.database.write(change)
    await asyncio.sleep(0.6)  # the pins run out


async def gc(svc: ContentService, **options: object) -> Report:
    report = await collect(
        svc.store,
        svc.driver,
        svc.generations,
        Options(**options),  # type: ignore[arg-type]
    )
    assert report.status == "Success", report.message
    return report


async def claim(svc: ContentService, digests: list[str]) -> list[tuple[str, int]]:
    """Claim blobs as a run would (holding the lock), then let the lock go: what a run
    killed between its claim and the deletion of the bytes leaves."""
    now = time.time()
    token = await svc.store.gc_try_lock("a killed run", now + 60, now)
    assert token is not None
    try:
        return await svc.store.gc_claim_blobs(digests, now, now, token=token)
    finally:
        await svc.store.gc_unlock("a killed run", token)


async def stored(svc: ContentService, digest: str) -> bool:
    return await svc.driver.stat(parse_digest(digest).key) is not None


async def pulls(svc: ContentService, repo: str, reference: str) -> bool:
    """The manifest resolves and it and every blob it names are stored, with their digests."""
    try:
        ref = parse_digest(reference) if ":" in reference else reference
        found = await svc.manifests.get(repo, ref, SYSTEM)
    except RegistryError:
        return False
    doc = json.loads(found.content)
    assert sha(found.content) == found.record.digest
    named = [doc["config"], *doc["layers"]] if "layers" in doc else []
    for child in doc.get("manifests", []):
        if not await pulls(svc, repo, child["digest"]):
            return False
    if "subject" in doc and not await pulls(svc, repo, doc["subject"]["digest"]):
        return False
    for item in named:
        if await svc.store.repo_blob_size(repo, item["digest"]) is None:
            return False
        data = b"".join([c async for c in svc.driver.read(parse_digest(item["digest"]).key)])
        assert sha(data) == item["digest"]
    return True


def test_mark_over_tricky_graphs(tmp_path: Path, metadata: StoreFactory) -> None:
    async def scenario(svc: ContentService) -> None:
        shared = b"shared layer"
        tagged = await image(svc, "p/one", [shared, b"tagged own"], "v1")
        loose = await image(svc, "p/one", [shared, b"loose own"], None)
        # indexes of indexes, with an untagged child kept alive only by the index
        m1 = await image(svc, "p/multi", [b"m1"], None)
        m2 = await image(svc, "p/multi", [b"m2"], None)
        inner = await index(svc, "p/multi", [m1, m2], None)
        outer = await index(svc, "p/multi", [inner], "all")
        # a referrer chain on a tagged image
        sig1 = await image(svc, "p/one", [b"sig1"], None, subject=tagged)
        sig2 = await image(svc, "p/one", [b"sig2"], None, subject=sig1)
        # the same blob in two repositories, one of whose manifests is then deleted
        both = b"in two repositories"
        await image(svc, "p/two", [both], "keep")
        gone = await image(svc, "p/three", [both, b"three own"], "drop")
        await svc.manifests.delete("p/three", parse_digest(str(gone["digest"])), SYSTEM)
        # a manifest whose tagged referrer is its only reason to live
        subject = await image(svc, "p/four", [b"subject own"], None)
        await image(svc, "p/four", [b"referrer own"], "ref", subject=subject)
        # a referrer of garbage is garbage
        stray = await image(svc, "p/one", [b"stray sig"], None, subject=loose)
        await blob(svc, "p/one", b"never referenced")
        await age_everything(svc)

        report = await gc(svc, grace=0.0, delete_untagged=True)

        assert report.manifests_swept == 2  # loose and stray (p/three's was deleted)
        for repo, ref in [
            ("p/one", "v1"),
            ("p/one", str(sig1["digest"])),
            ("p/one", str(sig2["digest"])),
            ("p/multi", "all"),
            ("p/multi", str(inner["digest"])),
            ("p/multi", str(m1["digest"])),
            ("p/two", "keep"),
            ("p/four", "ref"),
            ("p/four", str(subject["digest"])),
        ]:
            assert await pulls(svc, repo, ref), (repo, ref)
        assert await stored(svc, sha(shared)) and await stored(svc, sha(both))
        assert outer["digest"]
        for digest in [loose["digest"], stray["digest"], gone["digest"]]:
            assert not await stored(svc, str(digest))
        for data in [b"loose own", b"stray sig", b"three own", b"never referenced"]:
            assert not await stored(svc, sha(data))
            assert await svc.store.blob_size(sha(data)) is None
        # 4 layers, 3 manifests, and p/three's config (the others are shared in a repo)
        assert report.blobs_swept == 8
        again = await gc(svc, grace=0.0, delete_untagged=True)
        assert (again.manifests_swept, again.blobs_swept, again.orphans_swept) == (0, 0, 0)

    run(tmp_path, scenario, metadata)


def test_untagged_stay_without_the_flag_and_the_grace_window_protects(tmp_path: Path) -> None:
    async def scenario(svc: ContentService) -> None:
        loose = await image(svc, "p/a", [b"loose"], None)
        await blob(svc, "p/a", b"unreferenced old")
        await age_everything(svc)
        await blob(svc, "p/a", b"unreferenced new")
        await asyncio.sleep(0.6)
        report = await gc(svc)  # grace 1h: nothing is old enough... except aged content
        assert report.blobs_swept == 1 and not await stored(svc, sha(b"unreferenced old"))
        assert await stored(svc, sha(b"unreferenced new"))
        assert await pulls(svc, "p/a", str(loose["digest"]))
        report = await gc(svc, grace=0.0)
        assert report.blobs_swept == 1 and report.manifests_swept == 0
        assert await pulls(svc, "p/a", str(loose["digest"]))

    run(tmp_path, scenario)


async def sql(svc: ContentService, *statements: str) -> None:
    """Run statements (no parameters) in one transaction, on either store."""
    if isinstance(svc.store, PostgresStore):

        async def change(db: object) -> None:
            for statement in statements:
                await db.execute(statement)  # type: ignore[attr-defined]

        await svc.store.database.write(change)
    else:
        assert isinstance(svc.store, SQLiteStore)

        def write(db: object) -> None:
            for statement in statements:
                db.execute(statement)  # type: ignore[attr-defined]

        await svc.store.database.write(write)


async def dump(svc: ContentService) -> list[str]:
    """Every row of every table of the database, in a stable order."""
    if isinstance(svc.store, PostgresStore):

        async def rows(db: object) -> list[str]:
            tables = await db.fetch(  # type: ignore[attr-defined]
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
            out = []
            for (table,) in tables:
                found = await db.fetch(f'SELECT t::text FROM "{table}" t ORDER BY 1')  # type: ignore[attr-defined]
                out += [f"{table}: {row[0]}" for row in found]
            return out

        return await svc.store.database.read(rows)
    assert isinstance(svc.store, SQLiteStore)
    db = sqlite3.connect(svc.store.database.path)
    try:
        return list(db.iterdump())
    finally:
        db.close()


def listing(root: Path) -> list[tuple[str, int, int, str]]:
    """Every file and directory under ``root``: path, size, mtime, content digest."""
    out = []
    for directory, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(directory) / name
            info = path.stat()
            content = sha(path.read_bytes()) if path.is_file() else "dir"
            out.append((str(path.relative_to(root)), info.st_size, info.st_mtime_ns, content))
    return sorted(out)


def test_dry_run_writes_nothing(tmp_path: Path, metadata: StoreFactory) -> None:
    """A dry run reads only: the database (every table, the GC's own included) and the
    storage are identical before and after it, and its report says what a real run then
    takes: a loose manifest and its blobs, an unreferenced blob, an orphan, an interrupted
    deletion, a stale upload session and an abandoned staging area, a temp file."""

    async def scenario(svc: ContentService) -> None:
        loose = await image(svc, "p/a", [b"loose"], None)
        await image(svc, "p/a", [b"kept"], "v1")
        await blob(svc, "p/a", b"unreferenced")
        await blob(svc, "p/a", b"deletion interrupted")
        stale = await svc.uploads.start("p/a", SYSTEM)
        await svc.uploads.append("p/a", stale.id, body(b"half"), None, None)
        await age_everything(svc)
        await sql(svc, f"UPDATE uploads SET updated = {OLD} WHERE id = '{stale.id}'")
        assert len(await claim(svc, [sha(b"deletion interrupted")])) == 1
        await svc.driver.put_bytes(parse_digest(sha(b"orphan")).key, b"orphan")
        await svc.driver.create_upload("abandoned-staging-1")
        temp = tmp_path / "storage" / "blobs" / ".tmp.left-by-a-crash"
        temp.write_bytes(b"partial")
        for path in [p for p in (tmp_path / "storage").rglob("*") if "uploads" in str(p)]:
            os.utime(path, (OLD, OLD))
        os.utime(svc.driver.local_path(parse_digest(sha(b"orphan")).key), (OLD, OLD))  # type: ignore[arg-type]
        os.utime(temp, (OLD, OLD))
        # another run holds the lock meanwhile: a dry run needs none
        now = time.time()
        holder = await svc.store.gc_try_lock("another run", now + 60, now)
        assert holder is not None

        database, storage = await dump(svc), listing(tmp_path / "storage")
        options = {"grace": 0.0, "upload_ttl": 0.0, "delete_untagged": True}
        report = await gc(svc, dry_run=True, **options)
        assert await dump(svc) == database
        assert listing(tmp_path / "storage") == storage

        assert report.dry_run and report.run_id == 0 and "would go" in report.text()
        # the loose manifest, its layer, the unreferenced blob (the config is shared)
        assert (report.manifests_swept, report.blobs_swept, report.orphans_swept) == (1, 3, 1)
        assert report.manifests_marked == 1 and report.leftovers_finished == 1
        assert (report.uploads_purged, report.staging_purged, report.temp_purged) == (1, 1, 1)
        assert set(report.phases) == {"preview", "uploads", "orphans", "temp"}
        assert await pulls(svc, "p/a", str(loose["digest"]))

        await svc.store.gc_unlock("another run", holder)
        real = await gc(svc, **options)
        assert (real.manifests_swept, real.blobs_swept, real.orphans_swept) == (1, 3, 1)
        assert real.manifests_marked == 1 and real.leftovers_finished == 1
        assert (real.uploads_purged, real.staging_purged, real.temp_purged) == (1, 1, 1)
        assert real.bytes_freed == report.bytes_freed

    run(tmp_path, scenario, metadata)


class Stalls:
    """A run's view of the metadata store that freezes, as a stopped process would, at
    its first manifest sweep: that call and its lease renewals wait until ``resume``."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self.frozen = asyncio.Event()
        self.resume = asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    async def gc_sweep_manifests(self, *args: object, **kwargs: object) -> object:
        if not self.resume.is_set():
            self.frozen.set()
            await self.resume.wait()
        return await self.store.gc_sweep_manifests(*args, **kwargs)  # type: ignore[arg-type]

    async def gc_renew_lock(self, *args: object) -> object:
        if self.frozen.is_set():
            await self.resume.wait()
        return await self.store.gc_renew_lock(*args)  # type: ignore[arg-type]


def test_a_run_stalled_past_its_lease_deletes_nothing_after_a_takeover(
    tmp_path: Path, metadata: StoreFactory
) -> None:
    """Run A marks, then stalls (SIGSTOP, a long database stall) before it sweeps; its
    lease runs out; run B takes the lock over and starts its mark phase, which begins by
    clearing the marks (on SQLite the roots and their closure are separate transactions,
    so the cleared state is what others see meanwhile). A resumes: unfenced, it would
    sweep against B's half-built marks and delete every manifest not pushed since it
    started, tagged ones included (checked: 6 manifests, 13 blobs). Fenced, its sweep is
    refused; it ends with status Error, saying why; nothing is deleted; a later run does
    the work."""

    async def scenario(svc: ContentService) -> None:
        tagged = await image(svc, "p/a", [b"tagged layer"], "v1")
        children = [await image(svc, "p/a", [b"child %d" % n], None) for n in range(2)]
        await index(svc, "p/a", children, "multi")
        await image(svc, "p/a", [b"signature"], None, subject=tagged)
        loose = await image(svc, "p/a", [b"loose"], None)
        await blob(svc, "p/a", b"unreferenced")
        await age_everything(svc)
        reachable = ["v1", "multi", *(str(c["digest"]) for c in children)]

        stalls = Stalls(svc.store)
        options = Options(grace=0.0, delete_untagged=True)
        run_a = asyncio.create_task(
            collect(stalls, svc.driver, svc.generations, options)  # type: ignore[arg-type]
        )
        await asyncio.wait_for(stalls.frozen.wait(), 30)
        # a minute goes by: A's lease runs out (its renewals are frozen with it)
        await sql(svc, "UPDATE gc_lock SET until = 0")
        now = time.time()
        token_b = await svc.store.gc_try_lock("run B", now + 60, now)
        assert token_b is not None
        await sql(svc, "DELETE FROM gc_marks")  # B's mark phase, under way
        stalls.resume.set()
        report_a = await asyncio.wait_for(run_a, 30)

        assert report_a.status == "Error"
        assert "lost the GC lock" in report_a.message
        assert "another run took the GC lock over" in report_a.message
        assert report_a.manifests_swept == 0 and report_a.blobs_swept == 0
        for reference in reachable:
            assert await pulls(svc, "p/a", reference), reference
        assert await pulls(svc, "p/a", str(loose["digest"]))  # A deleted nothing at all
        assert await svc.store.gc_deleting("", 10) == []
        recorded = await svc.store.gc_run(report_a.run_id)
        assert recorded is not None and recorded.status == "Error"
        assert "lost the GC lock" in recorded.log

        await svc.store.gc_unlock("run B", token_b)
        done = await gc(svc, grace=0.0, delete_untagged=True)
        # the loose manifest, its layer, the unreferenced blob (the config is shared)
        assert done.manifests_swept == 1 and done.blobs_swept == 3
        for reference in reachable:
            assert await pulls(svc, "p/a", reference), reference
        assert not await stored(svc, str(loose["digest"]))
        assert not await stored(svc, sha(b"unreferenced"))

    run(tmp_path, scenario, metadata)


class FailingRenewals:
    """The metadata store as seen while the database refuses the lease's renewals."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    async def gc_renew_lock(self, *args: object) -> bool:
        raise DatabaseUnavailable("database unreachable (the test's)")


def test_the_lease_is_renewed_and_lost_when_renewal_fails_or_it_is_taken(
    tmp_path: Path,
) -> None:
    async def scenario(svc: ContentService) -> None:
        renewed = Lease(svc.store, lease_seconds=0.3)
        await renewed.acquire()
        await asyncio.sleep(0.5)  # renewed in the background every 0.1 s
        await renewed.ensure()
        await renewed.release()

        failing = Lease(FailingRenewals(svc.store), lease_seconds=0.3)  # type: ignore[arg-type]
        await failing.acquire()
        await asyncio.sleep(0.45)
        assert failing.lost == LOST_UNRENEWED
        with pytest.raises(GCLockLost):
            await failing.ensure()
        await failing.release()  # gives back nothing: it holds nothing any more

        taken = Lease(svc.store, lease_seconds=0.3)
        await taken.acquire()
        await sql(svc, "UPDATE gc_lock SET until = 0")
        now = time.time()
        other = await svc.store.gc_try_lock("another host", now + 60, now)
        assert other is not None and other > taken.token
        await asyncio.sleep(0.2)
        assert taken.lost == LOST_TAKEN
        with pytest.raises(GCLockLost):
            await taken.ensure()
        await taken.release()
        assert await svc.store.gc_renew_lock("another host", other, now + 60)  # still its

    run(tmp_path, scenario)


def test_orphans_stale_uploads_and_staging(tmp_path: Path) -> None:
    async def scenario(svc: ContentService) -> None:
        orphan, pinned = sha(b"orphan"), sha(b"pinned")
        for d, data in [(orphan, b"orphan"), (pinned, b"pinned")]:
            await svc.driver.put_bytes(parse_digest(d).key, data)
            os.utime(svc.driver.local_path(parse_digest(d).key), (OLD, OLD))  # type: ignore[arg-type]
        now = time.time()
        assert await svc.store.pin_blob(pinned, now + 60, now)  # an upload committing it
        stale = await svc.uploads.start("p/a", SYSTEM)
        await svc.uploads.append("p/a", stale.id, body(b"half"), None, None)
        live = await svc.uploads.start("p/a", SYSTEM)
        await svc.driver.create_upload("abandoned-staging-1")
        assert isinstance(svc.store, SQLiteStore)
        await svc.store.database.write(
            lambda db: db.execute("UPDATE uploads SET updated = ? WHERE id = ?", (OLD, stale.id))
        )
        staging = tmp_path / "storage" / "uploads" / "abandoned-staging-1"
        for path in [staging, *staging.iterdir()]:
            os.utime(path, (OLD, OLD))
        report = await gc(svc, grace=0.0)
        assert (report.orphans_swept, report.uploads_purged, report.staging_purged) == (1, 1, 1)
        assert not await stored(svc, orphan) and await stored(svc, pinned)
        assert await svc.store.get_upload(stale.id) is None
        assert await svc.store.get_upload(live.id) is not None
        ids = {info.key async for info in svc.driver.list_uploads()}
        assert ids == {live.id}

    run(tmp_path, scenario)


def test_interrupted_deletions_are_finished_first(tmp_path: Path) -> None:
    async def scenario(svc: ContentService) -> None:
        await blob(svc, "p/a", b"half deleted")
        await blob(svc, "p/a", b"bytes already gone")
        await age_everything(svc)
        digests = [sha(b"half deleted"), sha(b"bytes already gone")]
        assert len(await claim(svc, digests)) == 2
        await svc.driver.delete(parse_digest(digests[1]).key)  # the run died here
        report = await gc(svc)
        assert report.leftovers_finished == 2
        assert not await stored(svc, digests[0])
        assert await svc.store.gc_deleting("", 10) == []

    run(tmp_path, scenario)


def test_an_upload_of_a_digest_being_deleted_waits_and_keeps_its_bytes(tmp_path: Path) -> None:
    async def scenario(svc: ContentService) -> None:
        data = b"deleted and pushed again"
        await blob(svc, "p/a", data)
        await age_everything(svc)
        assert await claim(svc, [sha(data)])
        assert await svc.store.repo_blob_size("p/a", sha(data)) is None  # 404 for clients
        upload = asyncio.create_task(blob(svc, "p/b", data))
        await asyncio.sleep(0.3)
        assert not upload.done()  # waiting for the deletion to finish
        await svc.driver.delete(parse_digest(sha(data)).key)
        await svc.store.gc_forget_blobs([sha(data)])
        await asyncio.wait_for(upload, 10)
        assert await svc.store.repo_blob_size("p/b", sha(data)) == len(data)
        assert await stored(svc, sha(data))

    run(tmp_path, scenario)


def test_one_run_at_a_time_and_the_audit_event(tmp_path: Path) -> None:
    async def scenario(svc: ContentService) -> None:
        now = time.time()
        token = await svc.store.gc_try_lock("someone else", now + 60, now)
        assert token is not None
        with pytest.raises(GCBusy):
            await collect(svc.store, svc.driver, svc.generations, Options())
        await svc.store.gc_unlock("someone else", token)
        seen: list[object] = []
        events = EventBus()

        async def record(event: object) -> None:
            seen.append(event)

        events.subscribe(record)  # type: ignore[arg-type]
        report = await collect(svc.store, svc.driver, svc.generations, Options(), events=events)
        assert report.status == "Success"
        assert isinstance(seen[0], GarbageCollected) and seen[0].run_id == report.run_id
        found = await svc.store.gc_run(report.run_id)
        assert found is not None and found.status == "Success"
        assert "sweep-blobs: done" in found.log
        assert json.loads(found.report)["run_id"] == report.run_id

    run(tmp_path, scenario)


def test_project_scope(tmp_path: Path) -> None:
    async def scenario(svc: ContentService) -> None:
        await image(svc, "p/a", [b"p loose"], None)
        q = await image(svc, "q/a", [b"q loose"], None)
        await blob(svc, "p/a", b"p blob")
        await blob(svc, "q/a", b"q blob")
        await age_everything(svc)
        report = await gc(svc, grace=0.0, delete_untagged=True, project="p")
        assert report.manifests_swept == 1 and report.blobs_swept == 3
        assert await pulls(svc, "q/a", str(q["digest"]))
        assert await stored(svc, sha(b"q blob"))

    run(tmp_path, scenario)


def test_stop_request_leaves_a_consistent_state(tmp_path: Path) -> None:
    async def scenario(svc: ContentService) -> None:
        for n in range(30):
            await blob(svc, "p/a", b"loose %d" % n)
        await age_everything(svc)
        stop = asyncio.Event()
        stop.set()
        report = await collect(svc.store, svc.driver, svc.generations, Options(grace=0), stop=stop)
        assert report.status == "Stopped"
        assert (await gc(svc, grace=0.0)).blobs_swept == 30

    run(tmp_path, scenario)


async def stress(
    svc: ContentService,
    duration: float,
    *,
    limit: float | None = None,
    settle: float = 0.6,
    pushes: int = 10,
    runs: int = 3,
) -> None:
    """Writers push images sharing a pool of layers and move tags, a deleter deletes, GC
    loops with a zero grace window (and --delete-untagged), for ``duration`` seconds and
    until at least ``pushes`` images and ``runs`` GC runs went through (at most ``limit``
    seconds, twice ``duration`` by default: a loaded machine is slower, the checks stay
    meaningful). Afterwards
    every tagged image pulls completely, with the right digests, and after a last run
    (``settle`` seconds later: the pins ran out, S3's whole-second mtimes went by)
    storage holds exactly the referenced blobs."""
    generations = InProcessGenerations()
    svc.manifests.lookups._generations = generations  # GC bumps what the core reads
    pool = [b"pool layer %d" % n for n in range(12)]
    started = time.monotonic()
    pushed = failed = gcs = 0

    cap = 2 * duration if limit is None else limit

    def going() -> bool:
        elapsed = time.monotonic() - started
        enough = pushed >= pushes and gcs >= runs
        return elapsed < duration or (not enough and elapsed < cap)

    async def writer(n: int) -> None:
        nonlocal pushed, failed
        rnd = random.Random(n)
        while going():
            layers = [*rnd.sample(pool, 3), b"own %d %d" % (n, rnd.randrange(10**9))]
            try:
                await image(svc, f"p/w{n % 2}", layers, f"t{rnd.randrange(4)}")
                pushed += 1
            except RegistryError as exc:  # a layer GC took before the manifest came
                assert exc.error.code in ("MANIFEST_BLOB_UNKNOWN", "UNAVAILABLE")
                failed += 1

    async def deleter() -> None:
        rnd = random.Random(99)
        while going():
            repo = f"p/w{rnd.randrange(2)}"
            with contextlib.suppress(RegistryError):
                await svc.manifests.delete(repo, f"t{rnd.randrange(4)}", SYSTEM)
            await asyncio.sleep(0.05)

    async def collector() -> None:
        nonlocal gcs
        while going():
            report = await collect(
                svc.store, svc.driver, generations, Options(grace=0, delete_untagged=True)
            )
            assert report.status == "Success", report.message
            gcs += 1

    await asyncio.gather(*(writer(n) for n in range(3)), deleter(), collector())
    assert pushed >= pushes and gcs >= runs, (pushed, failed, gcs)
    for repo in ("p/w0", "p/w1"):
        for tag in await svc.store.list_tags(repo, None, None) or []:
            assert await pulls(svc, repo, tag), (repo, tag, failed)
    await asyncio.sleep(settle)
    await collect(svc.store, svc.driver, generations, Options(grace=0, delete_untagged=True))
    referenced: set[str] = set()
    for repo in ("p/w0", "p/w1"):
        for art in await svc.store.artifacts(repo) or []:
            referenced.add(art.record.digest)
            found = await svc.manifests.get(repo, parse_digest(art.record.digest), SYSTEM)
            assert sha(found.content) == art.record.digest
            doc = json.loads(found.content)
            referenced.update(i["digest"] for i in [doc["config"], *doc["layers"]])
    stored_digests = {
        f"sha256:{info.key.rsplit('/', 1)[1]}" async for info in svc.driver.list("blobs")
    }
    assert stored_digests == referenced


@pytest.mark.slow
def test_concurrent_pushes_deletes_and_gc_at_zero_grace(
    tmp_path: Path, metadata: StoreFactory
) -> None:
    """On SQLite and on PostgreSQL, with the filesystem driver; bounded to ~20 s."""

    async def scenario(svc: ContentService) -> None:
        await stress(svc, 15.0)

    run(tmp_path, scenario, metadata)
