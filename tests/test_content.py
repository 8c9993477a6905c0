"""The upload state machine and manifest rules of the content core, in-process."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from wharf.registry.content.service import ContentService
from wharf.registry.events import SYSTEM
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.oci.errors import RegistryError
from wharf.registry.oci.names import Digest, parse_digest
from wharf.registry.wiring import sqlite_database
from wharf.storage.filesystem import FilesystemDriver

T = TypeVar("T")


def run(tmp_path: Path, scenario: Callable[[ContentService], Awaitable[T]]) -> T:
    async def main() -> T:
        store = SQLiteStore(sqlite_database(tmp_path / "meta.db"))
        driver = FilesystemDriver(tmp_path / "storage")
        await store.open()
        await driver.start()
        try:
            return await scenario(ContentService(store, driver))
        finally:
            await store.close()

    return asyncio.run(main())


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def failing(part: bytes) -> AsyncIterator[bytes]:
    yield part
    raise ConnectionResetError("client went away")


def digest_of(data: bytes) -> Digest:
    return parse_digest("sha256:" + hashlib.sha256(data).hexdigest())


def test_chunked_upload_state_machine(tmp_path: Path) -> None:
    async def scenario(svc: ContentService) -> None:
        session = await svc.uploads.start("a/b", SYSTEM)
        assert session.offset == 0
        s = await svc.uploads.append("a/b", session.id, chunks(b"hello "), 0, 6)
        assert s.offset == 6
        with pytest.raises(RegistryError) as info:  # out of order
            await svc.uploads.append("a/b", session.id, chunks(b"x"), 3, 1)
        assert info.value.status == 416
        assert info.value.headers["Range"] == "0-5"
        with pytest.raises(RegistryError) as info:  # length disagrees with Content-Range
            await svc.uploads.append("a/b", session.id, chunks(b"abc"), 6, 5)
        assert info.value.error.code == "SIZE_INVALID"
        with pytest.raises(ConnectionResetError):  # client vanished mid-chunk
            await svc.uploads.append("a/b", session.id, failing(b"partial"), None, None)
        assert (await svc.uploads.status("a/b", session.id)).offset == 6
        s = await svc.uploads.append("a/b", session.id, chunks(b"wor", b"ld"), 6, 5)
        assert s.offset == 11
        await svc.uploads.finish(
            "a/b", session.id, digest_of(b"hello world!"), chunks(b"!"), SYSTEM
        )
        handle = await svc.blobs.get("a/b", digest_of(b"hello world!"))
        assert handle.size == 12
        assert handle.local_path is not None
        assert handle.local_path.read_bytes() == b"hello world!"
        with pytest.raises(RegistryError) as info:
            await svc.uploads.status("a/b", session.id)
        assert info.value.error.code == "BLOB_UPLOAD_UNKNOWN"

    run(tmp_path, scenario)


def test_wrong_digest_discards_upload(tmp_path: Path) -> None:
    async def scenario(svc: ContentService) -> None:
        session = await svc.uploads.start("a/b", SYSTEM)
        await svc.uploads.append("a/b", session.id, chunks(b"data"), None, None)
        with pytest.raises(RegistryError) as info:
            await svc.uploads.finish("a/b", session.id, digest_of(b"other"), None, SYSTEM)
        assert info.value.error.code == "DIGEST_INVALID"
        with pytest.raises(RegistryError):
            await svc.uploads.status("a/b", session.id)
        assert not list((tmp_path / "storage" / "blobs").rglob("*"))
        assert not list((tmp_path / "storage" / "uploads").iterdir())

    run(tmp_path, scenario)


def test_lease_blocks_a_second_writer(tmp_path: Path) -> None:
    async def scenario(svc: ContentService) -> None:
        session = await svc.uploads.start("a/b", SYSTEM)
        now = time.time()
        assert await svc.store.claim_upload(session.id, "someone-else", now + 60, now)
        with pytest.raises(RegistryError) as info:
            await svc.uploads.append("a/b", session.id, chunks(b"x"), None, None)
        assert info.value.error.code == "BLOB_UPLOAD_INVALID"
        # an expired lease (a crashed writer) can be taken over
        assert await svc.store.claim_upload(session.id, "someone-else", now - 1, now)
        s = await svc.uploads.append("a/b", session.id, chunks(b"x"), None, None)
        assert s.offset == 1

    run(tmp_path, scenario)


def test_upload_is_bound_to_its_repository(tmp_path: Path) -> None:
    async def scenario(svc: ContentService) -> None:
        session = await svc.uploads.start("a/b", SYSTEM)
        with pytest.raises(RegistryError) as info:
            await svc.uploads.append("c/d", session.id, chunks(b"x"), None, None)
        assert info.value.error.code == "BLOB_UPLOAD_UNKNOWN"

    run(tmp_path, scenario)


def test_manifest_with_missing_blobs_writes_nothing(tmp_path: Path) -> None:
    async def scenario(svc: ContentService) -> None:
        config = b"{}"
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(digest_of(config)),
                "size": 2,
            },
            "layers": [],
        }
        body = json.dumps(manifest).encode()
        with pytest.raises(RegistryError) as info:
            await svc.manifests.put("new/repo", "v1", body, manifest["mediaType"], SYSTEM)  # type: ignore[arg-type]
        assert info.value.error.code == "MANIFEST_BLOB_UNKNOWN"
        assert await svc.listing.catalog(None, None, lambda _: True) == []
        await svc.uploads.whole("new/repo", digest_of(config), chunks(config), SYSTEM)
        outcome = await svc.manifests.put("new/repo", "v1", body, None, SYSTEM)
        assert outcome.digest == str(digest_of(body))
        stored = await svc.manifests.get("new/repo", "v1", SYSTEM)
        assert stored.content == body
        assert await svc.listing.tags("new/repo", None, None) == ["v1"]

    run(tmp_path, scenario)


def test_lease_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs

    async def scenario(svc: ContentService) -> None:
        session = await svc.uploads.start("a/b", SYSTEM)
        now = time.time()
        holder = f"{os.uname().nodename}:{dead.pid}:abcd:ef"
        assert await svc.store.claim_upload(session.id, holder, now + 600, now)
        s = await svc.uploads.append("a/b", session.id, chunks(b"x"), None, None)
        assert s.offset == 1
        # a live holder on another host is trusted until its lease expires
        assert await svc.store.claim_upload(session.id, "elsewhere:1:x:y", now + 600, now)
        with pytest.raises(RegistryError):
            await svc.uploads.append("a/b", session.id, chunks(b"y"), None, None)

    run(tmp_path, scenario)


def test_catalog_pages_skip_what_the_caller_may_not_read(tmp_path: Path) -> None:
    async def scenario(svc: ContentService) -> None:
        digest = "sha256:" + "0" * 64
        names = [f"p{i:03d}/r" for i in range(250)]
        for name in names:
            await svc.store.add_blob(name, digest, 1)
        visible = [n for n in names if int(n[1:4]) % 50 == 0]  # 5 of 250, spread out

        def readable(name: str) -> bool:
            return name in visible

        pages, last = [], None
        while True:
            page = await svc.listing.catalog(last, 2, readable)
            if not page:
                break
            pages.append(page)
            last = page[-1]
        assert pages == [visible[0:2], visible[2:4], visible[4:5]]
        assert await svc.listing.catalog(None, None, readable) == visible

    run(tmp_path, scenario)
