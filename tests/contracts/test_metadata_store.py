"""One test-suite every MetadataStore must pass, written against the interface only
(``wharf.registry.metadata.base``); the backends are listed in ``backends.BACKENDS``."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.contracts.backends import Backend, Stores
from wharf.auth.models import Project
from wharf.registry.metadata.base import (
    ManifestRecord,
    MetadataStore,
    ProjectUnknown,
    UploadSession,
)

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def manifest(
    name: str,
    media_type: str = MANIFEST,
    artifact_type: str | None = None,
    subject: str | None = None,
) -> ManifestRecord:
    return ManifestRecord(digest(name), media_type, 100, artifact_type, subject)


def run(
    backend: Backend,
    scenario: Callable[[MetadataStore], Awaitable[None]],
    *,
    require_projects: bool = False,
) -> None:
    async def main() -> None:
        async with backend.stores(require_projects) as stores:
            await scenario(stores.metadata)

    asyncio.run(main())


def run_stores(backend: Backend, scenario: Callable[[Stores], Awaitable[None]]) -> None:
    async def main() -> None:
        async with backend.stores() as stores:
            await scenario(stores)

    asyncio.run(main())


async def push(
    store: MetadataStore, repo: str, name: str, tag: str | None = None
) -> ManifestRecord:
    """A manifest with one layer of its own, tagged."""
    layer = digest(f"{name}-layer")
    await store.add_blob(repo, layer, 10)
    record = manifest(name)
    result = await store.put_manifest(repo, record, [layer], [], tag)
    assert (result.missing_blobs, result.missing_manifests) == ([], [])
    return record


# --- repositories and blobs -------------------------------------------------------------
def test_open_ping_and_empty_store(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        await store.ping()
        assert not await store.repo_exists("a/b")
        assert await store.list_repos(None, None) == []
        assert await store.blob_size(digest("x")) is None
        assert await store.repos_with_blob(digest("x")) == []

    run(backend, scenario)


def test_add_blob_links_and_is_idempotent(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        d = digest("blob")
        await store.add_blob("a/b", d, 42)
        await store.add_blob("a/b", d, 42)
        assert await store.repo_exists("a/b")
        assert await store.repo_blob_size("a/b", d) == 42
        assert await store.blob_size(d) == 42
        assert await store.repo_blob_size("a/other", d) is None
        assert await store.repos_with_blob(d) == ["a/b"]

    run(backend, scenario)


def test_add_blob_finishing_an_upload_removes_its_session(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        d = digest("uploaded")
        await store.create_upload(session("u1", 1000.0))
        await store.add_blob("a/b", d, 5, finished_upload="u1")
        assert await store.get_upload("u1") is None
        assert await store.repo_blob_size("a/b", d) == 5
        await store.create_upload(session("u2", 1000.0))  # a new repository's first blob
        await store.add_blob("new/repo", digest("first"), 3, finished_upload="u2")
        assert await store.get_upload("u2") is None
        assert await store.repo_blob_size("new/repo", digest("first")) == 3

    run(backend, scenario)


def test_link_and_unlink_blob(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        d = digest("blob")
        assert not await store.link_blob("a/c", d)  # unknown blob
        assert not await store.repo_exists("a/c")  # and no repository made for it
        await store.add_blob("a/b", d, 7)
        assert await store.link_blob("a/c", d)
        assert await store.link_blob("a/a", d)
        assert await store.repo_blob_size("a/c", d) == 7
        assert await store.repos_with_blob(d) == ["a/a", "a/b", "a/c"]
        assert await store.repos_with_blob(d, limit=2) == ["a/a", "a/b"]
        assert await store.unlink_blob("a/c", d)
        assert not await store.unlink_blob("a/c", d)
        assert not await store.unlink_blob("nowhere/x", d)
        assert await store.repo_blob_size("a/c", d) is None
        assert await store.blob_size(d) == 7  # the blob itself stays (GC's business)

    run(backend, scenario)


def test_list_repos_pagination(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        for repo in ["p/c", "p/a", "q/b", "p/b"]:
            await store.add_blob(repo, digest(repo), 1)
        assert await store.list_repos(None, None) == ["p/a", "p/b", "p/c", "q/b"]
        assert await store.list_repos(None, 2) == ["p/a", "p/b"]
        assert await store.list_repos("p/b", 2) == ["p/c", "q/b"]
        assert await store.list_repos("q/b", 2) == []

    run(backend, scenario)


def test_last_seen_refresh(backend: Backend) -> None:
    async def scenario(stores: Stores) -> None:
        store = stores.metadata
        d = digest("blob")
        before = time.time()
        await store.add_blob("a/b", d, 3)
        assert await stores.blob_last_seen(d) >= before - 1
        old = time.time() - 3600
        await stores.set_blob_last_seen(d, old)
        assert await store.repo_blob_size("a/b", d) == 3  # a stale blob is refreshed...
        refreshed = await stores.blob_last_seen(d)
        assert refreshed >= before - 1
        assert await store.repo_blob_size("a/b", d) == 3  # ...a fresh one need not be
        assert await stores.blob_last_seen(d) >= refreshed
        await stores.set_blob_last_seen(d, old)
        assert await store.link_blob("a/c", d)  # linking refreshes it too
        assert await stores.blob_last_seen(d) >= before - 1
        await stores.set_blob_last_seen(d, old)
        result = await store.put_manifest("a/b", manifest("m"), [d], [], None)
        assert result.missing_blobs == []
        assert await stores.blob_last_seen(d) >= before - 1  # a manifest using it refreshes it

    run_stores(backend, scenario)


# --- uploads ----------------------------------------------------------------------------
def session(upload_id: str, updated: float) -> UploadSession:
    return UploadSession(upload_id, "a/b", 0, "sha256", b"state0", "{}", updated - 5, updated)


def test_take_upload_claims_reads_back_and_pins(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        now = time.time()
        await store.create_upload(session("u", now))
        missing = await store.take_upload("nope", "a/b", "A", now + 60, now)
        assert (missing.session, missing.found, missing.holder) == (None, False, None)
        elsewhere = await store.take_upload("u", "c/d", "A", now + 60, now)  # other repo
        assert (elsewhere.session, elsewhere.found) == (None, False)
        assert await store.upload_lease_owner("u") is None
        taken = await store.take_upload("u", "a/b", "A", now + 60, now, pin=(digest("x"), now + 60))
        assert taken.session == session("u", now) and taken.pinned
        assert await store.upload_lease_owner("u") == "A"
        held = await store.take_upload("u", "a/b", "B", now + 60, now, pin=(digest("y"), now + 60))
        assert (held.session, held.found, held.holder, held.pinned) == (None, True, "A", False)
        # the pin is only written with the lease: "y" stays unpinned, so GC may take it
        await store.add_blob("a/b", digest("y"), 1)
        token = await store.gc_try_lock("gc", now + 600, now)
        assert token is not None
        claimed = await store.gc_claim_blobs([digest("y")], now + 1, now, token=token)
        assert claimed == [(digest("y"), 1)]
        dead = await store.take_upload("u", "a/b", "B", now + 60, now, replace="A")
        assert dead.session is not None and not dead.pinned  # no pin asked
        # GC is deleting "y": the lease is taken, the pin is not (the caller waits)
        again = await store.take_upload("u", "a/b", "B", now + 90, now, pin=(digest("y"), now + 60))
        assert again.session is not None and not again.pinned
        # the pin of "x" holds it against a claim
        await store.add_blob("a/b", digest("x"), 1)
        assert await store.gc_claim_blobs([digest("x")], now + 1, now, token=token) == []

    run(backend, scenario)


def test_upload_create_get_and_list(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        assert await store.get_upload("nope") is None
        await store.create_upload(session("u1", 1000.0))
        await store.create_upload(session("u2", 2000.0))
        got = await store.get_upload("u1")
        assert got == session("u1", 1000.0)
        assert [s.id for s in await store.list_uploads(1500.0)] == ["u1"]
        assert sorted(s.id for s in await store.list_uploads(3000.0)) == ["u1", "u2"]
        assert await store.list_uploads(500.0) == []
        assert await store.delete_upload("u1")
        assert not await store.delete_upload("u1")
        assert await store.get_upload("u1") is None

    run(backend, scenario)


def test_upload_lease_claim_takeover_and_release(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        now = time.time()
        await store.create_upload(session("u", now))
        assert await store.upload_lease_owner("u") is None
        assert await store.upload_lease_owner("nope") is None
        assert not await store.claim_upload("nope", "A", now + 60, now)
        assert await store.claim_upload("u", "A", now + 60, now)
        assert await store.upload_lease_owner("u") == "A"
        assert await store.claim_upload("u", "A", now + 90, now)  # the holder renews
        assert not await store.claim_upload("u", "B", now + 60, now)  # held by A
        assert await store.claim_upload("u", "B", now + 200, now + 100)  # A's lease expired
        assert await store.upload_lease_owner("u") == "B"
        assert not await store.claim_upload("u", "C", now + 60, now, replace="A")
        assert await store.claim_upload("u", "C", now + 60, now, replace="B")  # B is dead
        assert await store.upload_lease_owner("u") == "C"

        moved = session("u", now + 1)
        moved.offset, moved.hash_state, moved.driver_state = 5, b"state5", '{"part": 1}'
        assert not await store.release_upload(moved, "B", 0)  # not the holder
        assert not await store.release_upload(moved, "C", 3)  # the offset moved meanwhile
        assert await store.upload_lease_owner("u") == "C"  # failed releases change nothing
        unchanged = await store.get_upload("u")
        assert unchanged is not None and unchanged.offset == 0
        assert await store.release_upload(moved, "C", 0)
        assert await store.upload_lease_owner("u") is None
        got = await store.get_upload("u")
        assert got is not None
        assert (got.offset, got.hash_state, got.driver_state, got.updated) == (
            5,
            b"state5",
            '{"part": 1}',
            now + 1,
        )
        assert not await store.release_upload(moved, "C", 0)  # released already
        assert await store.claim_upload("u", "D", now + 60, now)  # free again

    run(backend, scenario)


# --- manifests and tags -----------------------------------------------------------------
def test_put_manifest_with_missing_blobs_writes_nothing(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        have = digest("have")
        await store.add_blob("a/other", have, 1)
        missing = digest("missing")
        record = manifest("m")
        result = await store.put_manifest("a/b", record, [have, missing, missing], [], "v1")
        assert result.missing_blobs == sorted({have, missing})  # linked elsewhere ≠ here
        assert result.missing_manifests == []
        assert not await store.repo_exists("a/b")
        assert await store.blob_size(record.digest) is None
        assert await store.get_manifest("a/b", record.digest) is None

        await store.add_blob("a/b", have, 1)
        child = digest("child")
        result = await store.put_manifest("a/b", manifest("i", media_type=INDEX), [], [child], "v1")
        assert (result.missing_blobs, result.missing_manifests) == ([], [child])
        assert await store.list_tags("a/b", None, None) == []
        assert await store.get_manifest("a/b", digest("i")) is None

    run(backend, scenario)


def test_put_and_get_manifest_tags_and_children(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        child = await push(store, "a/b", "child")
        got = await store.get_manifest("a/b", child.digest)
        assert got == child
        assert await store.blob_size(child.digest) == child.size  # a manifest is a blob too
        assert await store.get_manifest("a/other", child.digest) is None
        assert await store.resolve_tag("a/b", "v1") is None

        index = ManifestRecord(
            digest("index"), INDEX, 300, annotations=b'{"a": "b"}', artifact_type="x/y"
        )
        result = await store.put_manifest("a/b", index, [], [child.digest], "v1")
        assert (result.missing_blobs, result.missing_manifests) == ([], [])
        assert await store.resolve_tag("a/b", "v1") == index
        assert await store.get_manifest("a/b", index.digest) == index

        again = await store.put_manifest("a/b", index, [], [child.digest], "v1")  # idempotent
        assert again.missing_manifests == []
        await store.put_manifest("a/b", child, [digest("child-layer")], [], "v1")  # tag moves
        assert await store.resolve_tag("a/b", "v1") == child
        assert await store.resolve_tag("a/other", "v1") is None

    run(backend, scenario)


def test_delete_manifest_cascades_tags(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        keep = await push(store, "a/b", "keep", "keep")
        gone = await push(store, "a/b", "gone", "t1")
        await store.put_manifest("a/b", gone, [digest("gone-layer")], [], "t2")
        assert await store.list_tags("a/b", None, None) == ["keep", "t1", "t2"]
        assert not await store.delete_manifest("a/other", gone.digest)
        assert await store.delete_manifest("a/b", gone.digest)
        assert not await store.delete_manifest("a/b", gone.digest)
        assert await store.get_manifest("a/b", gone.digest) is None
        assert await store.resolve_tag("a/b", "t1") is None
        assert await store.list_tags("a/b", None, None) == ["keep"]
        assert await store.resolve_tag("a/b", "keep") == keep

    run(backend, scenario)


def test_delete_tag(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        record = await push(store, "a/b", "m", "v1")
        assert await store.delete_tag("a/b", "v1")
        assert not await store.delete_tag("a/b", "v1")
        assert not await store.delete_tag("a/none", "v1")
        assert await store.resolve_tag("a/b", "v1") is None
        assert await store.get_manifest("a/b", record.digest) == record  # the manifest stays

    run(backend, scenario)


def test_list_tags_pagination_and_unknown_repo(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        assert await store.list_tags("a/none", None, None) is None
        await store.add_blob("a/b", digest("blob"), 1)
        assert await store.list_tags("a/b", None, None) == []  # exists, no tags
        record = await push(store, "a/b", "m")
        for tag in ["e", "b", "d", "a", "c"]:
            await store.put_manifest("a/b", record, [digest("m-layer")], [], tag)
        assert await store.list_tags("a/b", None, None) == ["a", "b", "c", "d", "e"]
        assert await store.list_tags("a/b", None, 2) == ["a", "b"]
        assert await store.list_tags("a/b", "b", 2) == ["c", "d"]
        assert await store.list_tags("a/b", "d", 2) == ["e"]
        assert await store.list_tags("a/b", "e", 2) == []

    run(backend, scenario)


def test_referrers_with_artifact_type_filter(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        subject = await push(store, "a/b", "subject", "v1")
        layer = digest("sig-layer")
        await store.add_blob("a/b", layer, 1)
        sig = manifest("sig", artifact_type="application/sig", subject=subject.digest)
        sbom = manifest("sbom", artifact_type="application/sbom", subject=subject.digest)
        other = manifest("other", artifact_type="application/sig", subject=digest("elsewhere"))
        for record in (sig, sbom, other):
            assert (await store.put_manifest("a/b", record, [layer], [], None)).missing_blobs == []
        assert {r.digest for r in await store.referrers("a/b", subject.digest, None)} == {
            sig.digest,
            sbom.digest,
        }
        assert await store.referrers("a/b", subject.digest, "application/sig") == [sig]
        assert await store.referrers("a/b", subject.digest, "application/none") == []
        assert await store.referrers("a/other", subject.digest, None) == []
        assert await store.referrers("a/b", digest("nothing"), None) == []

    run(backend, scenario)


# --- management queries -----------------------------------------------------------------
def test_repositories_under(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        await push(store, "p/a", "m1")
        await push(store, "p/a", "m2")
        await store.add_blob("p/b", digest("x"), 1)
        await store.add_blob("q/c", digest("x"), 1)
        await store.add_blob("p_x/d", digest("x"), 1)  # '_' is no wildcard
        await store.add_blob("P/e", digest("x"), 1)  # names are case-sensitive
        under = await store.repositories_under("p/")
        assert [(r.name, r.artifact_count) for r in under] == [("p/a", 2), ("p/b", 0)]
        assert all(r.updated >= r.created > 0 for r in under)
        assert len({r.id for r in under}) == 2 and all(r.id > 0 for r in under)
        assert all((r.description, r.pull_count) == ("", 0) for r in under)
        assert await store.repositories_under("none/") == []
        assert len(await store.repositories_under("")) == 5

    run(backend, scenario)


def test_delete_repository(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        record = await push(store, "a/b", "m", "v1")
        layer = digest("m-layer")
        await store.add_blob("a/c", layer, 10)
        assert await store.delete_repository("a/b")
        assert not await store.delete_repository("a/b")
        assert not await store.repo_exists("a/b")
        assert await store.list_tags("a/b", None, None) is None
        assert await store.get_manifest("a/b", record.digest) is None
        assert await store.repo_blob_size("a/b", layer) is None
        assert await store.repos_with_blob(layer) == ["a/c"]
        assert await store.blob_size(layer) == 10  # blobs are left to GC

    run(backend, scenario)


# --- projects (access control on) -------------------------------------------------------
def test_repository_creation_needs_the_project(backend: Backend) -> None:
    async def scenario() -> None:
        async with backend.stores(require_projects=True) as stores:
            store = stores.metadata
            d = digest("blob")
            with pytest.raises(ProjectUnknown) as info:
                await store.add_blob("team/app", d, 5)
            assert info.value.project == "team"
            assert not await store.repo_exists("team/app")
            assert await store.blob_size(d) is None  # nothing written
            with pytest.raises(ProjectUnknown):
                await store.put_manifest("team/app", manifest("m"), [], [], "v1")
            assert await store.blob_size(digest("m")) is None

            await stores.auth.create_project(Project("other"))
            await store.add_blob("other/app", d, 5)
            with pytest.raises(ProjectUnknown):
                await store.link_blob("team/app", d)
            assert await store.repos_with_blob(d) == ["other/app"]
            with pytest.raises(ProjectUnknown):
                await store.add_blob("teamwork", d, 5)  # a bare name is its own project

            await stores.auth.create_project(Project("team"))
            assert await store.link_blob("team/app", d)
            record = manifest("m")
            assert (await store.put_manifest("team/app", record, [d], [], "v1")).missing_blobs == []
            assert await store.resolve_tag("team/app", "v1") == record

        async with backend.stores(require_projects=False) as stores:
            await stores.metadata.add_blob("free/app", digest("blob"), 5)  # no check when off
            assert await stores.metadata.repo_exists("free/app")

    asyncio.run(scenario())


# --- concurrency ------------------------------------------------------------------------
def test_many_tasks_writing_at_once(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        async def one(i: int) -> None:
            repo = f"p/r{i % 5}"
            record = await push(store, repo, f"m{i}", f"t{i}")
            assert await store.resolve_tag(repo, f"t{i}") == record

        await asyncio.gather(*(one(i) for i in range(60)))
        tags = [await store.list_tags(f"p/r{r}", None, None) for r in range(5)]
        assert sum(len(t or []) for t in tags) == 60
        assert await store.list_repos(None, None) == [f"p/r{r}" for r in range(5)]

    run(backend, scenario)


def test_a_write_lock_elsewhere_does_not_stall_the_event_loop(backend: Backend) -> None:
    """Another process holds the write lock for 2 s: this process's write waits for it,
    its reads and the event loop carry on."""

    async def scenario(store: MetadataStore) -> None:
        record = await push(store, "a/b", "m", "v1")
        with backend.write_locked_elsewhere(2.0):
            ticks: list[float] = []

            async def ticker() -> None:
                while True:
                    ticks.append(time.monotonic())
                    await asyncio.sleep(0.01)

            ticking = asyncio.create_task(ticker())
            started = time.monotonic()
            write = asyncio.create_task(store.add_blob("a/b", digest("late"), 1))
            await asyncio.sleep(0.1)
            assert not write.done()  # waiting for the other process's lock
            read_started = time.monotonic()
            assert await store.resolve_tag("a/b", "v1") == record  # reads go on (WAL)
            assert time.monotonic() - read_started < 1.0
            await write
            waited = time.monotonic() - started
            ticking.cancel()
        assert waited > 1.0
        assert await store.blob_size(digest("late")) == 1
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert len(ticks) > 40  # ~100 at 10 ms over the 2 s, with room for a busy machine
        assert max(gaps) < 0.5, max(gaps)  # inline SQLite would show one ~2 s gap

    run(backend, scenario)
