"""Storage quotas in the content core, through the policy gate: usage counts each digest
once per project (manifests' own bytes too), a commit past the limit is refused before
its bytes are published and leaves nothing behind, refusals and the 85 % crossing are
events, a refusal is audited as denied, and abandoned writes give their reservation
back."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from wharf.registry.audit import audit_event_for
from wharf.registry.content.cache import InProcessGenerations
from wharf.registry.content.service import ContentService
from wharf.registry.events import Actor, Denied, Event, EventBus, QuotaExceeded, QuotaWarning
from wharf.registry.metadata.base import QuotaCheck
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.oci.errors import RegistryError
from wharf.registry.oci.names import Digest, parse_digest
from wharf.registry.policy.gate import PolicyGate, UploadCommit
from wharf.registry.policy.quota import QuotaLimits, StorageQuota, human, quota_project
from wharf.registry.wiring import sqlite_database
from wharf.storage.filesystem import FilesystemDriver

ALICE = Actor("alice", "10.1.2.3")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest_of(data: bytes) -> Digest:
    return parse_digest("sha256:" + hashlib.sha256(data).hexdigest())


def manifest(config: bytes, layers: list[bytes]) -> bytes:
    def entry(media_type: str, data: bytes) -> dict[str, object]:
        return {"mediaType": media_type, "digest": str(digest_of(data)), "size": len(data)}

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": entry("application/vnd.oci.image.config.v1+json", config),
            "layers": [entry("application/vnd.oci.image.layer.v1.tar", d) for d in layers],
        }
    ).encode()


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class World:
    def __init__(self, core: ContentService, store: SQLiteStore, driver: FilesystemDriver):
        self.core = core
        self.store = store
        self.driver = driver
        self.events: list[Event] = []

    async def record(self, event: Event) -> None:
        self.events.append(event)

    async def blob(self, repo: str, data: bytes) -> None:
        await self.core.uploads.whole(repo, digest_of(data), one(data), ALICE)

    async def image(self, repo: str, tag: str, config: bytes, layers: list[bytes]) -> bytes:
        for data in (config, *layers):
            await self.blob(repo, data)
        body = manifest(config, layers)
        await self.core.manifests.put(repo, tag, body, None, ALICE)
        return body

    def quota_events(self) -> list[Event]:
        return [e for e in self.events if isinstance(e, QuotaExceeded | QuotaWarning | Denied)]


def run(tmp_path: Path, scenario: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        store = SQLiteStore(sqlite_database(tmp_path / "meta.db"))
        driver = FilesystemDriver(tmp_path / "storage")
        await store.open()
        await driver.start()
        events = EventBus()
        generations = InProcessGenerations()
        limits = QuotaLimits(store, generations)
        gate = PolicyGate([StorageQuota(store, limits, events)])
        core = ContentService(
            store,
            driver,
            gate=gate,
            events=events,
            generations=generations,
            quota_limits=limits,
        )
        world = World(core, store, driver)
        events.subscribe(world.record)
        try:
            await scenario(world)
        finally:
            core.close()
            await driver.close()
            await store.close()

    asyncio.run(main())


def test_usage_counts_each_digest_once_per_project_manifests_included(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        await w.core.quotas.set("p", 10_000)
        config, shared, own = b'{"c":1}', b"s" * 1000, b"o" * 300
        first = await w.image("p/one", "v1", config, [shared])
        used = len(config) + len(shared) + len(first)
        assert (await w.core.quotas.get("p")).used == used
        # the same layer and config in another repository of the project count once
        second = await w.image("p/two", "v1", config, [shared, own])
        used += len(own) + len(second)
        assert (await w.core.quotas.get("p")).used == used
        # another project counts its own copy
        await w.image("q/one", "v1", config, [shared])
        assert (await w.core.quotas.get("p")).used == used
        assert (await w.core.quotas.get("q")).used == len(config) + len(shared) + len(first)
        # a manifest delete gives its own bytes back at once; its layers stay linked
        # (pullable by digest) until unlinked or collected
        await w.core.manifests.delete("p/two", digest_of(second), ALICE)
        used -= len(second)
        assert (await w.core.quotas.get("p")).used == used
        await w.core.blobs.unlink("p/two", digest_of(own), ALICE)
        used -= len(own)
        assert (await w.core.quotas.get("p")).used == used
        await w.core.repositories.delete("p/one", ALICE)
        # p/two still links config and shared
        assert (await w.core.quotas.get("p")).used == len(config) + len(shared)
        assert w.quota_events() == []

    run(tmp_path, scenario)


def test_a_commit_past_the_limit_is_refused_before_its_bytes_land(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        config, layer = b'{"c":2}', b"L" * 1000
        body = manifest(config, [layer])
        limit = len(config) + len(layer) + len(body) - 1  # the manifest does not fit
        await w.core.quotas.set("p", limit)
        await w.blob("p/app", config)
        await w.blob("p/app", layer)
        with pytest.raises(RegistryError) as info:
            await w.core.manifests.put("p/app", "v1", body, None, ALICE)
        error = info.value
        assert (error.status, error.error.code) == (403, "DENIED")
        used = len(config) + len(layer)
        assert "quota" in error.message and str(limit) in error.message
        assert str(used) in error.message and str(len(body)) in error.message
        manifest_digest = digest_of(body)
        # nothing of the refused manifest: no row, no bytes, usage unchanged
        assert await w.store.get_manifest("p/app", str(manifest_digest)) is None
        assert await w.driver.stat(manifest_digest.key) is None
        assert (await w.core.quotas.get("p")).used == used
        # a blob that does not fit is refused before it is published
        big = b"B" * 5000
        with pytest.raises(RegistryError) as info:
            await w.blob("p/app", big)
        assert info.value.status == 403
        assert await w.store.repo_blob_size("p/app", str(digest_of(big))) is None
        assert await w.driver.stat(digest_of(big).key) is None
        exceeded = [e for e in w.events if isinstance(e, QuotaExceeded)]
        assert exceeded == [
            QuotaExceeded(ALICE, "p", "p/app", str(manifest_digest), used, limit, len(body)),
            QuotaExceeded(ALICE, "p", "p/app", str(digest_of(big)), used, limit, len(big)),
        ]
        denied = [e for e in w.events if isinstance(e, Denied)]
        assert [(d.operation, d.repo, d.reference) for d in denied] == [
            ("push", "p/app", str(manifest_digest)),
            ("push", "p/app", str(digest_of(big))),
        ]
        audited = audit_event_for(denied[0])
        assert audited is not None and audited.result == "denied"
        assert audited.detail is not None and "quota" in audited.detail
        # raising the limit lets the same push through; what is in the project already
        # (a layer pushed again, a tag on the same manifest) needs no room at all
        await w.core.quotas.set("p", limit + 1)
        await w.core.manifests.put("p/app", "v1", body, None, ALICE)
        await w.blob("p/other", layer)
        await w.core.manifests.put("p/app", "v2", body, None, ALICE)
        assert (await w.core.quotas.get("p")).used == limit + 1
        # an unlimited project and a repository without a project are never refused
        await w.core.quotas.set("p", -1)
        await w.blob("p/app", big)
        await w.blob("solo", big)

    run(tmp_path, scenario)


def test_warning_when_usage_crosses_85_percent_upwards(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        await w.core.quotas.set("p", 1000)
        await w.blob("p/app", b"a" * 800)  # 80 %
        await w.blob("p/app", b"b" * 40)  # 84 %
        assert w.quota_events() == []
        await w.blob("p/app", b"c" * 20)  # 86 %: crosses
        await w.blob("p/app", b"d" * 20)  # 88 %: above already
        assert w.quota_events() == [
            QuotaWarning(ALICE, "p", "p/app", str(digest_of(b"c" * 20)), 860, 1000)
        ]
        await w.core.blobs.unlink("p/app", digest_of(b"d" * 20), ALICE)
        await w.core.blobs.unlink("p/app", digest_of(b"c" * 20), ALICE)  # back to 84 %
        await w.blob("p/app", b"e" * 30)  # crosses again: warned again
        assert len([e for e in w.events if isinstance(e, QuotaWarning)]) == 2

    run(tmp_path, scenario)


def test_abandoned_writes_give_their_reservation_back(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        await w.core.quotas.set("p", 1000)
        config, layer = b'{"c":3}', b"x" * 100
        body = manifest(config, [layer])
        # a manifest whose blobs are missing is refused after its admission
        with pytest.raises(RegistryError) as info:
            await w.core.manifests.put("p/app", "v1", body, None, ALICE)
        assert info.value.error.code == "MANIFEST_BLOB_UNKNOWN"
        # an upload whose digest does not match is refused before its admission
        with pytest.raises(RegistryError):
            await w.core.uploads.whole("p/app", digest_of(b"other"), one(b"y" * 900), ALICE)
        # a mount from nowhere links nothing and keeps nothing reserved
        assert not await w.core.blobs.mount("p/app", digest_of(layer), None, lambda _: True, ALICE)
        # so the whole limit is still there for 1000 bytes
        await w.blob("p/app", b"z" * 1000)
        assert (await w.core.quotas.get("p")).used == 1000

    run(tmp_path, scenario)


def test_concurrent_admissions_never_exceed_the_limit(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        await w.core.quotas.set("p", 10_000)
        blobs = [bytes([i]) * 1000 for i in range(25)]
        results = await asyncio.gather(
            *(w.blob(f"p/r{i % 5}", data) for i, data in enumerate(blobs)),
            return_exceptions=True,
        )
        accepted = [r for r in results if r is None]
        refused = [r for r in results if isinstance(r, RegistryError)]
        assert len(accepted) == 10 and len(refused) == 15
        assert (await w.core.quotas.get("p")).used == 10_000

    run(tmp_path, scenario)


def test_helpers() -> None:
    assert quota_project("lib/app/x") == "lib" and quota_project("solo") is None
    assert human(512) == "512 B" and human(3 * 1024**2) == "3.00 MiB"
    change = UploadCommit(ALICE, "p/a", "sha256:" + "0" * 64, 1)
    assert isinstance(change, UploadCommit)


def test_session_uploads_take_their_admission_with_the_claim(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        await w.core.quotas.set("p", 1000)
        uploads = w.core.uploads
        separate: list[tuple[object, ...]] = []
        reserve = w.store.reserve_quota

        async def counted(*args: Any) -> QuotaCheck:
            separate.append(args)
            return await reserve(*args)

        w.store.reserve_quota = counted  # type: ignore[method-assign]
        # PATCH, then a PUT without a body (docker): sized by the upload's offset
        first = b"a" * 300
        session = await uploads.start("p/app", ALICE)
        await uploads.append("p/app", session.id, one(first), None, None)
        await uploads.finish("p/app", session.id, digest_of(first), None, ALICE)
        # a PUT that brings the bytes and says how many
        second = b"b" * 600
        session = await uploads.start("p/app", ALICE)
        await uploads.finish("p/app", session.id, digest_of(second), one(second), ALICE, 600)
        assert (await w.core.quotas.get("p")).used == 900
        # past the limit: 403, nothing published
        big = b"c" * 200
        session = await uploads.start("p/app", ALICE)
        with pytest.raises(RegistryError) as info:
            await uploads.finish("p/app", session.id, digest_of(big), one(big), ALICE, 200)
        assert (info.value.status, info.value.error.code) == (403, "DENIED")
        assert await w.driver.stat(digest_of(big).key) is None
        # a digest that does not match gives its admission back
        session = await uploads.start("p/app", ALICE)
        with pytest.raises(RegistryError) as info:
            await uploads.finish("p/app", session.id, digest_of(b"x"), one(b"d" * 100), ALICE, 100)
        assert info.value.error.code == "DIGEST_INVALID"
        assert separate == []  # every admission so far rode on the claim's write
        # a body of unknown length (chunked) is admitted by a write of its own; the
        # 100 bytes left prove the abandoned admission no longer counts
        last = b"e" * 100
        session = await uploads.start("p/app", ALICE)
        await uploads.finish("p/app", session.id, digest_of(last), one(last), ALICE, None)
        assert len(separate) == 1
        assert (await w.core.quotas.get("p")).used == 1000

    run(tmp_path, scenario)
