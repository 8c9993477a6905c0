"""Pull statistics off the hot path: the recorder tallies pull events in memory (no write
per pull) and writes them in one batch; pulls survive a database outage until the next
flush; pulls of what is gone are dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path

from wharf.db.errors import DatabaseUnavailable
from wharf.registry.content.pulls import PullRecorder
from wharf.registry.events import SYSTEM, ManifestPulled
from wharf.registry.metadata.base import ArtifactFacts, ManifestRecord, Pulls
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.wiring import sqlite_database

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


class CountingStore(SQLiteStore):
    """Counts the batches written; fails them while ``down``."""

    def __init__(self, path: Path) -> None:
        super().__init__(sqlite_database(path))
        self.batches: list[list[Pulls]] = []
        self.down = False

    async def record_pulls(self, pulls: list[Pulls]) -> None:
        if self.down:
            raise DatabaseUnavailable("down for the test")
        self.batches.append(pulls)
        await super().record_pulls(pulls)


async def pushed(store: SQLiteStore, repo: str, digest: str, tag: str) -> None:
    layer = "sha256:" + "c" * 64
    await store.add_blob(repo, layer, 1)
    record = ManifestRecord(digest, "application/vnd.oci.image.manifest.v1+json", 10)
    await store.put_manifest(repo, record, [layer], [], tag, facts=ArtifactFacts("x", 11))


def test_pulls_are_tallied_and_written_in_one_batch(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = CountingStore(tmp_path / "wharf.db")
        await store.open()
        try:
            await pushed(store, "p/a", DIGEST, "v1")
            recorder = PullRecorder(store)
            for _ in range(500):
                await recorder(ManifestPulled(SYSTEM, "p/a", DIGEST, "v1"))
            for _ in range(20):
                await recorder(ManifestPulled(SYSTEM, "p/a", DIGEST, DIGEST))
            await recorder(ManifestPulled(SYSTEM, "p/gone", OTHER, "v1"))
            assert store.batches == []  # nothing written per pull
            await recorder.flush()
            [batch] = store.batches
            assert {(p.repo, p.tag, p.count) for p in batch} == {
                ("p/a", "v1", 500),
                ("p/a", None, 20),
                ("p/gone", "v1", 1),
            }
            await recorder.flush()  # nothing new: no write
            assert len(store.batches) == 1
            row = await store.artifact("p/a", DIGEST)
            assert row is not None and row.pull_count == 520 and row.pulled is not None
            assert row.tags[0].pulled is not None
            info = await store.repository("p/a")
            assert info is not None and info.pull_count == 520
        finally:
            await store.close()

    asyncio.run(scenario())


def test_pulls_are_held_while_the_database_is_down(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = CountingStore(tmp_path / "wharf.db")
        await store.open()
        try:
            await pushed(store, "p/a", DIGEST, "v1")
            recorder = PullRecorder(store)
            await recorder(ManifestPulled(SYSTEM, "p/a", DIGEST, "v1"))
            store.down = True
            await recorder.flush()
            await recorder(ManifestPulled(SYSTEM, "p/a", DIGEST, "v1"))
            store.down = False
            await recorder.flush()
            [batch] = store.batches
            assert [(p.tag, p.count) for p in batch] == [("v1", 2)]
            row = await store.artifact("p/a", DIGEST)
            assert row is not None and row.pull_count == 2
        finally:
            await store.close()

    asyncio.run(scenario())
