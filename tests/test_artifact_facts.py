"""What Harbor's API tells of artifacts pushed before Wharf recorded it: registry migration
4 gives existing manifests and tags their ids (on SQLite and PostgreSQL), and the content
core works out (and records) the facts — Harbor's media type and size — the first time
such an artifact is read."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.services import Postgres
from wharf.db.migrate import Schema
from wharf.db.postgres import PostgresDatabase
from wharf.db.sqlite import SQLiteDatabase
from wharf.registry.content.service import ContentService
from wharf.registry.events import SYSTEM
from wharf.registry.metadata.base import ArtifactFacts, MetadataStore
from wharf.registry.metadata.postgres import PostgresStore
from wharf.registry.metadata.schema import MIGRATIONS
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.oci.manifests import OCI_INDEX, OCI_MANIFEST, digest_of
from wharf.registry.wiring import SCHEMAS, sqlite_database
from wharf.storage.filesystem import FilesystemDriver

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
BEFORE = Schema("registry", MIGRATIONS[:3])  # the release before the artifact tables
M = "sha256:" + "1" * 64
N = "sha256:" + "2" * 64
# what a store of that release held: a repository with two manifests, one tagged twice
OLD_ROWS = (
    "INSERT INTO repositories (id, name, created) VALUES (1, 'p/old', 1.0)",
    f"INSERT INTO blobs (digest, size, created, last_seen) VALUES ('{M}', 10, 1.0, 1.0)",
    f"INSERT INTO blobs (digest, size, created, last_seen) VALUES ('{N}', 20, 1.0, 1.0)",
    "INSERT INTO manifests (repo_id, digest, media_type, size, created) "
    f"VALUES (1, '{M}', '{OCI_MANIFEST}', 10, 1.0)",
    "INSERT INTO manifests (repo_id, digest, media_type, size, created) "
    f"VALUES (1, '{N}', '{OCI_MANIFEST}', 20, 2.0)",
    f"INSERT INTO tags (repo_id, name, digest, updated) VALUES (1, 'v1', '{M}', 1.0)",
    f"INSERT INTO tags (repo_id, name, digest, updated) VALUES (1, 'latest', '{M}', 1.5)",
)


async def check_migrated(store: MetadataStore) -> None:
    rows = await store.artifacts("p/old")
    assert rows is not None and [r.record.digest for r in rows] == [N, M]
    assert all(r.id > 0 and r.facts is None and r.pull_count == 0 for r in rows)
    assert rows[0].id > rows[1].id  # numbered in push order
    assert [t.name for t in rows[1].tags] == ["latest", "v1"]
    assert all(t.id > 0 and t.pulled is None for t in rows[1].tags)
    info = await store.repository("p/old")
    assert info is not None and (info.description, info.pull_count) == ("", 0)
    assert info.artifact_count == 2


def test_migration_4_on_sqlite(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "wharf.db"
        before = SQLiteDatabase(path, schemas=(BEFORE,))
        await before.open()
        for statement in OLD_ROWS:
            await before.write(lambda db, s=statement: db.execute(s))
        await before.close()
        store = SQLiteStore(sqlite_database(path))
        await store.open()
        try:
            await check_migrated(store)
        finally:
            await store.close()

    asyncio.run(scenario())


@pytest.mark.services
def test_migration_4_on_postgresql(postgres: Postgres) -> None:
    url = postgres.create_database("migration_4")

    async def scenario() -> None:
        before = PostgresDatabase(url, schemas=(BEFORE,))
        await before.open()
        for statement in OLD_ROWS:
            await before.read(lambda db, s=statement: db.execute(s))
        await before.close()
        store = PostgresStore(PostgresDatabase(url, schemas=SCHEMAS))
        await store.open()
        try:
            await check_migrated(store)
        finally:
            await store.close()

    asyncio.run(scenario())


async def blob(svc: ContentService, repo: str, data: bytes) -> str:
    digest = digest_of(data)

    async def body() -> AsyncIterator[bytes]:
        yield data

    await svc.uploads.whole(repo, digest, body(), SYSTEM)
    return str(digest)


def test_facts_of_artifacts_pushed_before_are_worked_out_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SQLiteStore(sqlite_database(tmp_path / "wharf.db"))
        driver = FilesystemDriver(tmp_path / "storage")
        await store.open()
        await driver.start()
        svc = ContentService(store, driver)
        try:
            config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
            layer = b"x" * 300
            image = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {
                        "mediaType": OCI_CONFIG,
                        "digest": await blob(svc, "p/r", config),
                        "size": len(config),
                    },
                    "layers": [
                        {
                            "mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": await blob(svc, "p/r", layer),
                            "size": len(layer),
                        }
                    ],
                }
            ).encode()
            await svc.manifests.put("p/r", "v1", image, OCI_MANIFEST, SYSTEM)
            index = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_INDEX,
                    "manifests": [
                        {
                            "mediaType": OCI_MANIFEST,
                            "digest": str(digest_of(image)),
                            "size": len(image),
                        }
                    ],
                }
            ).encode()
            await svc.manifests.put("p/r", "list", index, OCI_INDEX, SYSTEM)
            image_size = len(image) + len(config) + len(layer)
            recorded = {r.record.digest: r.facts for r in await svc.artifacts.in_repository("p/r")}
            assert recorded == {
                str(digest_of(image)): ArtifactFacts(OCI_CONFIG, image_size),
                str(digest_of(index)): ArtifactFacts(OCI_INDEX, len(index) + image_size),
            }
            # as if pushed by the release before: no facts recorded
            await store.database.write(
                lambda db: db.execute("UPDATE artifacts SET media_type = NULL, total_size = NULL")
            )
            assert all(r.facts is None for r in await store.artifacts("p/r") or [])
            worked = {r.record.digest: r.facts for r in await svc.artifacts.in_repository("p/r")}
            assert worked == recorded
            kept = {r.record.digest: r.facts for r in await store.artifacts("p/r") or []}
            assert kept == recorded  # recorded: worked out only once
        finally:
            svc.close()
            await store.close()

    asyncio.run(scenario())
