"""Garbage collection on S3 (SeaweedFS) through the driver interface: tricky graphs,
orphans, abandoned multipart uploads, and short concurrency runs at zero grace — with
SQLite, and with PostgreSQL (the HA setup: PostgreSQL + S3)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.services import Postgres
from tests.storage_services import S3Endpoint, seaweed
from tests.test_gc import (
    age_everything,
    gc,
    image,
    index,
    pulls,
    sha,
    short_pins,
    stored,
    stress,
)
from wharf.gc import Options, collect
from wharf.registry.content.service import ContentService
from wharf.registry.events import SYSTEM
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.metadata.postgres import PostgresStore
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.oci.errors import RegistryError
from wharf.registry.oci.names import parse_digest
from wharf.registry.wiring import postgres_database, sqlite_database
from wharf.storage.s3 import S3Driver

__all__ = ["seaweed", "short_pins"]  # fixtures

pytestmark = pytest.mark.services
T = TypeVar("T")
MiB = 1024 * 1024


def run_s3(
    tmp_path: Path,
    endpoint: S3Endpoint,
    scenario: Callable[[ContentService], Awaitable[T]],
    database_url: str | None = None,
) -> T:
    """``scenario`` over a fresh prefix of the bucket, with SQLite, or with PostgreSQL at
    ``database_url``."""

    async def main() -> T:
        store: MetadataStore
        if database_url is None:
            store = SQLiteStore(sqlite_database(tmp_path / "meta.db"))
        else:
            store = PostgresStore(postgres_database(database_url, pool_min=1, pool_max=8))
        driver = S3Driver(
            endpoint.bucket,
            endpoint=endpoint.url,
            region=endpoint.region,
            prefix=f"gc-{uuid.uuid4().hex[:8]}/",
            access_key=endpoint.access_key,
            secret_key=endpoint.secret_key,
            part_size=5 * MiB,
        )
        await store.open()
        await driver.start()
        try:
            return await scenario(ContentService(store, driver))
        finally:
            await driver.close()
            await store.close()

    return asyncio.run(main())


def test_graphs_orphans_and_abandoned_multipart_on_s3(tmp_path: Path, seaweed: S3Endpoint) -> None:
    async def scenario(svc: ContentService) -> None:
        shared = b"shared"
        await image(svc, "p/a", [shared, b"kept own"], "v1")
        loose = await image(svc, "p/a", [shared, b"loose own"], None)
        child = await image(svc, "p/a", [b"child own"], None)
        await index(svc, "p/a", [child], "multi")
        orphan = sha(b"orphan on s3")
        await svc.driver.put_bytes(parse_digest(orphan).key, b"orphan on s3")
        # a multipart upload some crashed process left behind, with no session row
        state = await svc.driver.create_upload("abandoned-mpu-1")
        writer = await svc.driver.open_upload("abandoned-mpu-1", state, 0)
        await writer.write(os.urandom(6 * MiB))
        await writer.close()
        await age_everything(svc)
        await asyncio.sleep(1.1)  # S3 mtimes are whole seconds: be past them
        report = await gc(svc, grace=0.0, upload_ttl=0.0, delete_untagged=True)
        assert report.manifests_swept == 1 and report.orphans_swept == 1
        assert report.staging_purged == 1
        assert await pulls(svc, "p/a", "v1") and await pulls(svc, "p/a", "multi")
        assert not await stored(svc, str(loose["digest"]))
        assert not await stored(svc, sha(b"loose own")) and not await stored(svc, orphan)
        assert await stored(svc, sha(shared))
        assert [info async for info in svc.driver.list_uploads()] == []

    run_s3(tmp_path, seaweed, scenario)


@pytest.mark.slow
def test_concurrent_pushes_and_gc_on_s3(tmp_path: Path, seaweed: S3Endpoint) -> None:
    async def scenario(svc: ContentService) -> None:
        deadline = time.monotonic() + 10
        pool = [b"s3 pool %d" % n for n in range(6)]
        gcs = 0

        async def writer(n: int) -> None:
            rnd = random.Random(n)
            while time.monotonic() < deadline:
                layers = [*rnd.sample(pool, 2), b"own %d %d" % (n, rnd.randrange(10**9))]
                with contextlib.suppress(RegistryError):
                    await image(svc, "p/s3", layers, f"t{rnd.randrange(3)}")

        async def collector() -> None:
            nonlocal gcs
            while time.monotonic() < deadline:
                options = Options(grace=0, delete_untagged=True)
                report = await collect(svc.store, svc.driver, svc.generations, options)
                assert report.status == "Success", report.message
                gcs += 1

        await asyncio.gather(writer(1), writer(2), collector())
        assert gcs >= 2
        for tag in await svc.store.list_tags("p/s3", None, None) or []:
            assert await pulls(svc, "p/s3", tag)
        for art in await svc.store.artifacts("p/s3") or []:
            found = await svc.manifests.get("p/s3", parse_digest(art.record.digest), SYSTEM)
            for item in json.loads(found.content)["layers"]:
                assert await stored(svc, item["digest"])

    run_s3(tmp_path, seaweed, scenario)


@pytest.mark.slow
def test_concurrent_pushes_deletes_and_gc_on_postgres_and_s3(
    tmp_path: Path, seaweed: S3Endpoint, postgres: Postgres
) -> None:
    """The HA combination: several writers reusing layers and moving tags, a deleter,
    GC looping at zero grace, for 8 s (up to 14 s on a slow machine, until 5 images and 3
    runs went through); then every tagged image pulls with the right digests and the
    bucket holds exactly the referenced blobs."""
    url = postgres.create_database(f"gc_s3_{uuid.uuid4().hex[:12]}")

    async def scenario(svc: ContentService) -> None:
        # settle: S3 mtimes are whole seconds
        await stress(svc, 8.0, limit=14.0, settle=1.1, pushes=5)

    run_s3(tmp_path, seaweed, scenario, url)
