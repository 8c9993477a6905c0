"""The garbage-collection part of the MetadataStore contract (``gc_*``, ``pin_blob`` and
the ``deleting`` state every read must honour), for every backend in ``BACKENDS``."""

from __future__ import annotations

import math
import time

from tests.contracts.backends import Backend, Stores
from tests.contracts.test_metadata_store import INDEX, digest, manifest, push, run, run_stores
from wharf.registry.metadata.base import GCLockLost, GCRunQuery, GCSchedule, MetadataStore

OLD = 1000.0  # a last_seen long before any cutoff used here
ALL = GCRunQuery()


async def locked(store: MetadataStore, owner: str = "test") -> int:
    """Take the GC lock as a run would; its token."""
    now = time.time()
    token = await store.gc_try_lock(owner, now + 600, now)
    assert token is not None
    return token


async def stale(stores: Stores, *names: str) -> None:
    for name in names:
        await stores.set_blob_last_seen(digest(name), OLD)


def test_claimed_blob_is_absent_everywhere_until_forgotten(backend: Backend) -> None:
    async def scenario(stores: Stores) -> None:
        store = stores.metadata
        d = digest("loose")
        await store.add_blob("a/b", d, 5)
        await store.link_blob("a/c", d)
        await stale(stores, "loose")
        token = await locked(store)
        now = time.time()
        assert await store.gc_blob_candidates("", now, None, 10) == [d]
        assert await store.gc_claim_blobs([d], now, now, token=token) == [(d, 5)]
        assert await store.repo_blob_size("a/b", d) is None
        assert await store.blob_size(d) is None
        assert await store.repos_with_blob(d) == []
        assert not await store.link_blob("a/x", d)
        result = await store.put_manifest("a/b", manifest("m"), [d], [], "t")
        assert result.missing_blobs == [d]
        assert not await store.pin_blob(d, now + 60, now)  # an upload must wait
        assert await store.gc_blob_candidates("", now, None, 10) == []
        assert await store.gc_deleting("", 10) == [(d, 5)]
        assert await store.gc_forget_blobs([d]) == 1
        assert await store.gc_deleting("", 10) == []
        assert await store.pin_blob(d, now + 60, now)  # now it may be uploaded again
        await store.add_blob("a/b", d, 5)
        assert await store.repo_blob_size("a/b", d) == 5

    run_stores(backend, scenario)


def test_claim_rechecks_references_last_seen_and_pins(backend: Backend) -> None:
    async def scenario(stores: Stores) -> None:
        store = stores.metadata
        record = await push(store, "a/b", "img", "latest")
        layer = digest("img-layer")
        fresh, pinned = digest("fresh"), digest("pinned")
        await store.add_blob("a/b", fresh, 1)
        await store.add_blob("a/b", pinned, 1)
        await stale(stores, "img-layer", "pinned")
        await stores.set_blob_last_seen(record.digest, OLD)
        token = await locked(store)
        now = time.time()
        cutoff = now - 60
        assert await store.pin_blob(pinned, now + 60, now)
        # candidates: neither referenced nor a manifest, and not seen since the cutoff
        assert await store.gc_blob_candidates("", cutoff, None, 10) == [pinned]
        claimed = await store.gc_claim_blobs(
            [layer, record.digest, fresh, pinned], cutoff, now, token=token
        )
        assert claimed == []
        # once the manifest goes, its layer and its own bytes are garbage
        assert await store.delete_manifest("a/b", record.digest)
        expected = sorted([layer, record.digest, pinned])
        assert await store.gc_blob_candidates("", cutoff, None, 10) == expected
        assert await store.gc_blob_candidates(expected[0], cutoff, None, 1) == [expected[1]]
        later = now + 120  # the pin has expired
        claimed = await store.gc_claim_blobs(expected, cutoff, later, token=token)
        assert sorted(d for d, _ in claimed) == expected

    run_stores(backend, scenario)


def test_blob_candidates_of_a_project(backend: Backend) -> None:
    async def scenario(stores: Stores) -> None:
        store = stores.metadata
        await store.add_blob("p/a", digest("only-p"), 1)
        await store.add_blob("p/a", digest("shared"), 1)
        await store.link_blob("q/a", digest("shared"))
        await store.add_blob("q/a", digest("only-q"), 1)
        await store.add_blob("pp/a", digest("only-pp"), 1)
        await stale(stores, "only-p", "shared", "only-q", "only-pp")
        now = time.time()
        assert await store.gc_blob_candidates("", now, "p", 10) == [digest("only-p")]
        assert len(await store.gc_blob_candidates("", now, None, 10)) == 4

    run_stores(backend, scenario)


def test_orphans_are_claimed_unless_known_or_pinned(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        known, pinned, orphan = digest("known"), digest("pinned"), digest("orphan")
        await store.add_blob("a/b", known, 1)
        token = await locked(store)
        now = time.time()
        assert await store.pin_blob(pinned, now + 60, now)
        assert await store.gc_unknown_digests([known, pinned, orphan], now) == [orphan]
        items = [(known, 1), (pinned, 2), (orphan, 3)]
        assert await store.gc_claim_orphans(items, now, token=token) == [orphan]
        assert await store.gc_deleting("", 10) == [(orphan, 3)]
        assert await store.blob_size(orphan) is None
        assert not await store.pin_blob(orphan, now + 60, now)
        assert await store.gc_forget_blobs([orphan, known]) == 1  # a live blob stays
        assert await store.blob_size(known) == 1

    run(backend, scenario)


def test_lock_is_one_holder_at_a_time_with_a_lease(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        now = time.time()
        one = await store.gc_try_lock("one", now + 60, now)
        assert one is not None
        again = await store.gc_try_lock("one", now + 60, now)  # re-entrant for its owner
        assert again is not None and again > one
        assert await store.gc_try_lock("two", now + 60, now) is None
        assert await store.gc_renew_lock("one", again, now + 120)
        assert not await store.gc_renew_lock("one", one, now + 120)  # an older token
        assert not await store.gc_renew_lock("two", again, now + 120)
        assert await store.gc_try_lock("two", now + 60, now + 100) is None  # renewed
        two = await store.gc_try_lock("two", now + 300, now + 200)  # expired: taken over
        assert two is not None and two > again
        assert not await store.gc_renew_lock("one", again, now + 400)
        await store.gc_unlock("one", again)  # not the holder: nothing happens
        assert await store.gc_try_lock("three", now + 60, now + 250) is None
        await store.gc_unlock("two", two)
        three = await store.gc_try_lock("three", now + 60, now)
        assert three is not None and three > two  # tokens only grow, across releases

    run(backend, scenario)


def test_transactions_of_a_run_that_lost_the_lock_change_nothing(backend: Backend) -> None:
    async def scenario(stores: Stores) -> None:
        store = stores.metadata
        tagged = await push(store, "a/b", "tagged", "v1")
        loose = await push(store, "a/b", "loose")
        await store.add_blob("a/b", digest("blob"), 1)
        await stale(stores, "blob")
        now = time.time()
        stale_run = await store.gc_try_lock("stale", now - 1, now - 120)  # lease ran out
        assert stale_run is not None
        assert await store.gc_mark(now + 10, None, token=stale_run) == 1
        newer = await store.gc_try_lock("newer", now + 600, now)
        assert newer is not None and newer > stale_run
        later = time.time() + 10
        calls = [
            store.gc_mark(later, None, token=stale_run),
            store.gc_sweep_manifests(later, later, None, 10, token=stale_run),
            store.gc_claim_blobs([digest("blob")], later, later, token=stale_run),
            store.gc_claim_orphans([(digest("orphan"), 1)], later, token=stale_run),
        ]
        for call in calls:
            try:
                await call
            except GCLockLost as exc:
                assert exc.token == stale_run
            else:
                raise AssertionError("a fenced call of a stale run went through")
        assert not await store.gc_renew_lock("stale", stale_run, now + 600)
        assert await store.get_manifest("a/b", loose.digest) is not None
        assert await store.get_manifest("a/b", tagged.digest) is not None
        assert await store.blob_size(digest("blob")) == 1
        assert await store.gc_deleting("", 10) == []
        # the run holding the lock works as usual
        assert await store.gc_mark(later, None, token=newer) == 1
        swept = await store.gc_sweep_manifests(later, later, None, 10, token=newer)
        assert swept == [("a/b", loose.digest)]

    run_stores(backend, scenario)


def test_mark_and_sweep_manifests(backend: Backend) -> None:
    async def scenario(stores: Stores) -> None:
        store = stores.metadata
        tagged = await push(store, "a/b", "tagged", "v1")
        loose = await push(store, "a/b", "loose")
        child = await push(store, "a/b", "child")
        index = manifest("index", INDEX)
        await store.put_manifest("a/b", index, [], [child.digest], "multi")
        sig = manifest("sig", subject=tagged.digest, artifact_type="sig")
        await store.put_manifest("a/b", sig, [], [], None)
        orphan_sig = manifest("orphan-sig", subject=loose.digest)
        await store.put_manifest("a/b", orphan_sig, [], [], None)
        other = await push(store, "q/x", "other")
        later = time.time() + 10
        token = await locked(store)
        # without a cutoff every manifest is a root
        assert await store.gc_mark(-math.inf, None, token=token) == 7
        kept = await store.gc_preview(later, None, False)
        assert (kept.manifests_reached, kept.manifests, kept.blobs) == (7, 0, 0)
        # with one: tagged ones and what they reach (child, referrer) stay
        assert await store.gc_mark(later, None, token=token) == 4
        preview = await store.gc_preview(later, None, True)
        assert (preview.manifests_reached, preview.manifests) == (4, 3)  # loose, its sig, other
        # their bytes and layers: loose (2), orphan-sig (1), other (2)
        assert preview.blobs == 5 and preview.interrupted == 0
        # scoped to project a: blobs linked into a's repositories only (loose's layer)
        scoped = await store.gc_preview(later, "a", True)
        assert (scoped.manifests_reached, scoped.manifests, scoped.blobs) == (5, 2, 1)
        # scoped to project a: everything in q is a root
        assert await store.gc_mark(later, "a", token=token) == 5
        swept = await store.gc_sweep_manifests(time.time() + 5, later, "a", 1, token=token)
        assert len(swept) == 1
        rest = await store.gc_sweep_manifests(time.time() + 5, later, "a", 10, token=token)
        assert sorted(swept + rest) == sorted([("a/b", loose.digest), ("a/b", orphan_sig.digest)])
        assert await store.gc_sweep_manifests(time.time() + 5, later, "a", 10, token=token) == []
        assert await store.get_manifest("a/b", child.digest) is not None
        assert await store.get_manifest("q/x", other.digest) is not None

    run_stores(backend, scenario)


def test_sweep_remarks_what_became_reachable_since_the_mark(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        child = await push(store, "a/b", "child")
        index = manifest("index", INDEX)
        await store.put_manifest("a/b", index, [], [child.digest], None)
        referrer = await push(store, "a/b", "subject-of-nothing")
        token = await locked(store)
        since = time.time()
        assert await store.gc_mark(since + 10, None, token=token) == 0
        # meanwhile a client tags the untagged index
        await store.put_manifest("a/b", index, [], [child.digest], "now-tagged")
        assert await store.gc_sweep_manifests(since, since + 10, None, 10, token=token) == [
            ("a/b", referrer.digest)
        ]
        assert await store.get_manifest("a/b", child.digest) is not None

    run(backend, scenario)


def test_runs_and_schedule_are_recorded(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        assert await store.gc_runs(ALL, 0, 10) == ([], 0)
        assert await store.gc_run(1) is None
        first = await store.gc_create_run("MANUAL", '{"dry_run": true}', 100.0, token=None)
        second = await store.gc_create_run("SCHEDULE", "{}", 200.0, token=None)
        await store.gc_update_run(first, "Running", "{}", "one\n", 150.0)
        await store.gc_update_run(first, "Success", '{"blobs_swept": 3}', "two\n", 160.0)
        runs, total = await store.gc_runs(ALL, 0, 10)
        assert total == 2 and [r.id for r in runs] == [second, first]
        assert runs[1].status == "Success" and runs[1].log == ""
        one = await store.gc_run(first)
        assert one is not None
        assert (one.kind, one.parameters, one.report) == (
            "MANUAL",
            '{"dry_run": true}',
            '{"blobs_swept": 3}',
        )
        assert one.log == "one\ntwo\n" and (one.created, one.updated) == (100.0, 160.0)
        assert [r.id for r in (await store.gc_runs(ALL, 1, 1))[0]] == [first]
        assert await store.gc_schedule() is None
        await store.gc_set_schedule(GCSchedule("Daily", "0 0 0 * * *", "{}", 5.0, 5.0))
        await store.gc_set_schedule(GCSchedule("Custom", "0 */5 * * * *", '{"a": 1}', 6.0, 5.0))
        assert await store.gc_schedule() == GCSchedule(
            "Custom", "0 */5 * * * *", '{"a": 1}', 6.0, 5.0
        )

    run(backend, scenario)


def test_run_history_filters_and_orders(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        ids = []
        for n, (kind, status) in enumerate(
            [("MANUAL", "Success"), ("SCHEDULE", "Error"), ("MANUAL", "Stopped")]
        ):
            run_id = await store.gc_create_run(kind, "{}", 100.0 + n, token=None)
            await store.gc_update_run(run_id, status, "{}", "", 200.0 - n)
            ids.append(run_id)

        async def found(query: GCRunQuery) -> tuple[list[int], int]:
            runs, total = await store.gc_runs(query, 0, 10)
            return [r.id for r in runs], total

        assert await found(GCRunQuery(values=(("kind", ("MANUAL",)),))) == ([ids[2], ids[0]], 2)
        either = GCRunQuery(values=(("status", ("Error", "Stopped")),))
        assert await found(either) == ([ids[2], ids[1]], 2)
        assert await found(GCRunQuery(contains=(("status", "STOP"),))) == ([ids[2]], 1)
        assert await found(GCRunQuery(contains=(("status", "%"),))) == ([], 0)
        assert await found(GCRunQuery(ranges=(("created", 100.5, None),))) == (
            [ids[2], ids[1]],
            2,
        )
        assert await found(GCRunQuery(ranges=(("updated", None, 199.0),))) == (
            [ids[2], ids[1]],
            2,
        )
        assert await found(GCRunQuery(order=(("updated", False),))) == (
            [ids[2], ids[1], ids[0]],
            3,
        )
        assert await found(GCRunQuery(order=(("id", False),))) == (ids, 3)
        assert await found(GCRunQuery(values=(("id", ()),))) == ([], 0)

    run(backend, scenario)


def test_stop_requests_and_runs_whose_collector_is_gone(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        now = time.time()
        dead = await store.gc_try_lock("dead", now - 1, now - 120)  # its lease ran out
        assert dead is not None
        orphaned = await store.gc_create_run("MANUAL", "{}", now - 100, token=dead)
        alive = await store.gc_try_lock("alive", now + 600, now)
        assert alive is not None
        running = await store.gc_create_run("MANUAL", "{}", now, token=alive)
        gone = await store.gc_run(orphaned)
        assert gone is not None and gone.status == "Error" and "lost the GC lock" in gone.log
        assert await store.gc_request_stop(9999, now) is None
        assert not await store.gc_stop_requested(running)
        asked = await store.gc_request_stop(running, now)
        assert asked is not None and asked.status == "Running"  # its collector stops it
        assert await store.gc_stop_requested(running)
        await store.gc_update_run(running, "Success", "{}", "", now)
        assert not await store.gc_stop_requested(running + 1)
        # a run whose lease ran out and which nobody took over has no collector left
        await store.gc_unlock("alive", alive)
        last = await store.gc_create_run("MANUAL", "{}", now, token=alive)
        stopped = await store.gc_request_stop(last, now)
        assert stopped is not None and stopped.status == "Stopped"
        finished = await store.gc_request_stop(running, now)
        assert finished is not None and finished.status == "Success"  # left as it was

    run(backend, scenario)


def test_totals(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        await push(store, "a/b", "img", "v1")  # a layer of 10 and a manifest of 100
        assert await store.gc_totals() == (1, 2, 110)

    run(backend, scenario)
