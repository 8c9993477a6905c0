"""The storage-quota part of the MetadataStore contract, for every backend in
``BACKENDS``: limits, usage (each digest once per project, manifests included) and
admissions (reservations counted until the digest is linked, released or expired)."""

from __future__ import annotations

import asyncio
import time

from tests.contracts.backends import Backend
from tests.contracts.test_metadata_store import digest, manifest, push, run
from wharf.registry.metadata.base import (
    MetadataStore,
    PinAndQuota,
    QuotaAsk,
    QuotaCheck,
    UploadSession,
)

HOUR = 3600.0


def test_limits_set_read_and_forgotten(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        assert await store.quota("ql") is None
        created = await store.set_quota("ql", 1000, 10.0)
        assert (created.project, created.hard, created.created, created.updated) == (
            "ql",
            1000,
            10.0,
            10.0,
        )
        changed = await store.set_quota("ql", -1, 20.0)
        assert (changed.hard, changed.created, changed.updated) == (-1, 10.0, 20.0)
        assert "ql" not in await store.quota_limits()  # unlimited
        await store.set_quota("ql", 5, 30.0)
        assert (await store.quota_limits())["ql"] == 5
        await store.reserve_quota("ql", digest("ql-a"), 1, time.time(), time.time() + HOUR)
        await store.delete_quota("ql")
        assert await store.quota("ql") is None and "ql" not in await store.quota_limits()

    run(backend, scenario)


def test_usage_counts_each_digest_once_manifests_included(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        await store.add_blob("qu/a", digest("qu-shared"), 100)
        await store.link_blob("qu/b", digest("qu-shared"))
        record = await push(store, "qu/a", "qu-image")  # a 10-byte layer, a 100-byte manifest
        await store.put_manifest("qu/b", record, [], [], None)  # the same manifest again
        await store.add_blob("qux/c", digest("qu-else"), 1000)  # a project sharing a prefix
        assert await store.project_usage("qu") == 100 + 10 + record.size
        assert await store.delete_manifest("qu/a", record.digest)
        assert await store.project_usage("qu") == 100 + 10 + record.size  # still in qu/b
        assert await store.delete_repository("qu/b")
        assert await store.project_usage("qu") == 100 + 10

    run(backend, scenario)


def test_admissions_reserve_until_linked_released_or_expired(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        now = time.time()
        until = now + HOUR
        unlimited = await store.reserve_quota("qa", digest("qa-0"), 10**12, now, until)
        assert unlimited == QuotaCheck(-1, 0, 0, 10**12, True)
        await store.set_quota("qa", 1000, now)
        await store.add_blob("qa/r", digest("qa-in"), 300)
        first = await store.reserve_quota("qa", digest("qa-1"), 500, now, until)
        assert first == QuotaCheck(1000, 300, 0, 500, True, exact=True)
        # 300 used + 500 reserved: 201 does not fit, 200 does
        refused = await store.reserve_quota("qa", digest("qa-2"), 201, now, until)
        assert refused == QuotaCheck(1000, 300, 500, 201, False, exact=True)
        assert (await store.reserve_quota("qa", digest("qa-2"), 200, now, until)).granted
        # what is in the project already adds nothing, whatever its size
        present = await store.reserve_quota("qa", digest("qa-in"), 300, now, until)
        assert (present.added, present.granted) == (0, True)
        # asking again for the same digest replaces its own reservation
        again = await store.reserve_quota("qa", digest("qa-1"), 500, now, until)
        assert again.granted and again.reserved == 200
        # the link consumes the reservation: the bytes count once, as usage
        await store.add_blob("qa/r", digest("qa-1"), 500)
        linked = await store.reserve_quota("qa", digest("qa-3"), 1, now, until)
        assert (linked.used, linked.reserved, linked.granted) == (800, 200, False)
        # a released reservation no longer counts
        await store.release_quota("qa", digest("qa-2"))
        assert (await store.reserve_quota("qa", digest("qa-3"), 200, now, until)).granted
        # an expired one neither (and is dropped by the next admission)
        later = until + 1
        expired = await store.reserve_quota("qa", digest("qa-4"), 200, later, later + HOUR)
        assert (expired.used, expired.reserved, expired.granted) == (800, 0, True)
        # a manifest put consumes its reservation too
        record = manifest("qa-manifest")
        await store.release_quota("qa", digest("qa-4"))
        assert (await store.reserve_quota("qa", record.digest, 100, later, later + HOUR)).granted
        await store.put_manifest("qa/r", record, [], [], "v1")
        last = await store.reserve_quota("qa", digest("qa-5"), 100, later, later + HOUR)
        assert (last.used, last.reserved, last.granted) == (900, 0, True)

    run(backend, scenario)


def test_concurrent_admissions_are_serialized(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        now = time.time()
        await store.set_quota("qc", 1000, now)
        checks = await asyncio.gather(
            *(store.reserve_quota("qc", digest(f"qc-{i}"), 100, now, now + HOUR) for i in range(30))
        )
        assert sum(c.granted for c in checks) == 10

    run(backend, scenario)


def test_far_from_the_limit_an_upper_bound_decides(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        now = time.time()
        until = now + HOUR
        await store.add_blob("qf/r", digest("qf-old"), 5000)  # in before the limit was set
        await store.set_quota("qf", 10_000, now)
        first = await store.reserve_quota("qf", digest("qf-1"), 100, now, until)
        assert first == QuotaCheck(10_000, 5000, 0, 100, True, exact=True)  # bound unknown
        second = await store.reserve_quota("qf", digest("qf-2"), 100, now, until)
        assert second == QuotaCheck(10_000, 5100, 0, 100, True, exact=False)  # the bound
        # an unlink lowers the usage, not the bound: it only errs on the safe side ...
        assert await store.unlink_blob("qf/r", digest("qf-old"))
        # ... until an admission would take it past 85 %: then the exact sums decide
        third = await store.reserve_quota("qf", digest("qf-3"), 3400, now, until)
        assert third == QuotaCheck(10_000, 0, 200, 3400, True, exact=True)
        fourth = await store.reserve_quota("qf", digest("qf-4"), 100, now, until)
        assert fourth == QuotaCheck(10_000, 3600, 0, 100, True, exact=False)
        # a new limit forgets the bound
        await store.set_quota("qf", 4000, now)
        fifth = await store.reserve_quota("qf", digest("qf-5"), 400, now, until)
        assert fifth == QuotaCheck(4000, 0, 3700, 400, False, exact=True)

    run(backend, scenario)


def test_admissions_ride_on_the_pin_and_the_upload_claim(backend: Backend) -> None:
    async def scenario(store: MetadataStore) -> None:
        now = time.time()
        until = now + HOUR
        await store.set_quota("qp", 1000, now)
        await store.add_blob("qp/r", digest("qp-in"), 300)
        # pin_and_reserve: the pin as pin_blob, the admission as reserve_quota
        got = await store.pin_and_reserve(
            digest("qp-m"), until, now, QuotaAsk("qp", digest("qp-m"), 400, now, until)
        )
        assert got == PinAndQuota(True, QuotaCheck(1000, 300, 0, 400, True, exact=True))
        refused = await store.pin_and_reserve(
            digest("qp-x"), until, now, QuotaAsk("qp", digest("qp-x"), 301, now, until)
        )
        assert refused.pinned and not refused.quota.granted
        assert (refused.quota.used, refused.quota.reserved) == (300, 400)
        # take_upload: sized the upload's offset plus the bytes still to come
        await store.create_upload(
            UploadSession("qu1", "qp/r", 200, "sha256", b"s", "{}", now - 5, now)
        )
        ask = QuotaAsk("qp", digest("qp-u"), 50, now, until)
        claim = await store.take_upload(
            "qu1", "qp/r", "A", now + 60, now, pin=(digest("qp-u"), until), quota=ask
        )
        assert claim.session is not None and claim.pinned
        assert claim.quota == QuotaCheck(1000, 300, 400, 250, True, exact=True)
        # not taken (someone holds the lease): nothing admitted
        held = await store.take_upload("qu1", "qp/r", "B", now + 60, now, quota=ask)
        assert held.session is None and held.quota is None
        # the admissions hold their bytes: 300 used + 400 + 250 reserved leaves 50
        full = await store.reserve_quota("qp", digest("qp-y"), 51, now, until)
        assert not full.granted and full.reserved == 650
        # a released one stops counting; a linked one counts as usage, once
        await store.release_quota("qp", digest("qp-u"))
        await store.add_blob("qp/r", digest("qp-m"), 400)
        after = await store.reserve_quota("qp", digest("qp-y"), 300, now, until)
        assert (after.used, after.reserved, after.granted) == (700, 0, True)

    run(backend, scenario)
