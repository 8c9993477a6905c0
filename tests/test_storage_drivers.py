"""One test-suite every storage driver must pass.

Each test gets a *pair* of driver instances sharing one store, standing for two
processes or replicas: ``filesystem`` (two instances on one directory),
``filesystem-nfs`` (the same in NFS-safe mode) and ``s3`` (two instances on one bucket
and prefix of a real SeaweedFS ``weed mini`` server, started once per session).

NFS: no NFS mount is possible on the CI machine (the kernel has no NFS client and no
FUSE NFS client exists, see /work/shared/notes/services.md), so NFS-safe mode is tested
as two driver instances on one local directory: the same code path, with the shared
path standing in for the mount. What NFS adds (close-to-open consistency, no reliable
locks, coarse mtimes, ESTALE, silly renames) is handled by design in the driver and
documented in storage/README.md.

Every test must leave no upload staging behind (checked at teardown), the way
distribution's driver suite fails on left-over files.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.storage_services import S3Endpoint, seaweed
from wharf.registry.config import ConfigError, load_settings
from wharf.registry.wiring import make_driver
from wharf.storage.base import Driver, InvalidKey, KeyNotFound, StorageError, UploadWriter
from wharf.storage.filesystem import FilesystemDriver
from wharf.storage.s3 import S3Driver

__all__ = ["seaweed"]  # the S3 server fixture

MiB = 1024 * 1024
S3_PART = 5 * MiB  # the smallest part S3 allows: exercises multipart with small data
# the S3 runs need a SeaweedFS server: marked `services` (excluded by `make unit`)
DRIVERS = ["filesystem", "filesystem-nfs", pytest.param("s3", marks=pytest.mark.services)]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def make_s3(endpoint: S3Endpoint, prefix: str, **kwargs: Any) -> S3Driver:
    return S3Driver(
        endpoint.bucket,
        endpoint=endpoint.url,
        region=endpoint.region,
        prefix=prefix,
        access_key=endpoint.access_key,
        secret_key=endpoint.secret_key,
        part_size=kwargs.pop("part_size", S3_PART),
        **kwargs,
    )


D = TypeVar("D", bound=Driver)


def started(drivers: tuple[D, D]) -> Iterator[tuple[D, D]]:
    """Start both drivers, hand them to the test, close them, and fail if any upload
    staging was left behind."""

    async def start() -> None:
        for d in drivers:
            await d.start()

    async def finish() -> list[str]:
        left = [info.key async for info in drivers[0].list_uploads()]
        for d in drivers:
            await d.close()
        return left

    run(start())
    yield drivers
    left = run(finish())
    assert not left, f"upload staging left behind: {left}"


@pytest.fixture(params=DRIVERS)
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Driver, Driver]]:
    kind: str = request.param
    drivers: tuple[Driver, Driver]
    if kind == "s3":
        endpoint: S3Endpoint = request.getfixturevalue("seaweed")
        prefix = f"test-{secrets.token_hex(4)}"
        drivers = (make_s3(endpoint, prefix), make_s3(endpoint, prefix))
    else:
        nfs = kind == "filesystem-nfs"
        drivers = (
            FilesystemDriver(tmp_path / "store", nfs_safe=nfs),
            FilesystemDriver(tmp_path / "store", nfs_safe=nfs),
        )

    yield from started(drivers)


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def append(
    driver: Driver, upload_id: str, state: str, offset: int, data: bytes, piece: int = 4 * MiB
) -> tuple[str, int]:
    """One PATCH: open at the persisted offset/state, write, close; the new state/offset."""
    writer = await driver.open_upload(upload_id, state, offset)
    for start in range(0, len(data), piece):
        await writer.write(data[start : start + piece])
    state = await writer.close()
    assert writer.offset == offset + len(data)
    return state, writer.offset


def new_id() -> str:
    return secrets.token_hex(12)


def blob_key(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"blobs/sha256/{digest[:2]}/{digest}"


async def simulate_crash(writer: UploadWriter) -> None:
    """The process died after writing, before close(): nothing flushed, nothing cleaned."""
    fd = getattr(writer, "_fd", None)
    if fd is not None:  # filesystem: the fd just goes away
        os.close(fd)
    inflight = getattr(writer, "_inflight", None)
    if inflight:  # s3: parts in flight die with the process
        for task in inflight:
            task.cancel()
        await asyncio.gather(*inflight, return_exceptions=True)


# --- objects -------------------------------------------------------------------
def test_put_get_stat(pair: tuple[Driver, Driver]) -> None:
    a, b = pair

    async def body() -> None:
        await a.put_bytes("manifests/one", b"hello")
        assert await b.get_bytes("manifests/one") == b"hello"
        info = await b.stat("manifests/one")
        assert info is not None and info.size == 5 and info.key == "manifests/one"
        assert abs(info.mtime - time.time()) < 300
        await b.put_bytes("manifests/one", b"replaced")  # put_bytes replaces atomically
        assert await a.get_bytes("manifests/one") == b"replaced"
        await a.put_bytes("manifests/empty", b"")
        assert await b.get_bytes("manifests/empty") == b""
        assert await b.stat("manifests/missing") is None
        assert await b.stat("manifests/one/below") is None
        with pytest.raises(KeyNotFound):
            await a.get_bytes("manifests/missing")
        assert await a.delete("manifests/one") and await a.delete("manifests/empty")

    run(body())


def test_delete_missing(pair: tuple[Driver, Driver]) -> None:
    a, b = pair

    async def body() -> None:
        assert await a.delete("blobs/none/at/all") is False
        await a.put_bytes("x/y", b"1")
        assert await b.delete("x/y") is True
        assert await a.delete("x/y") is False
        assert await a.stat("x/y") is None

    run(body())


ODD_KEYS = [
    "blobs/sha256:ab/c+d=e@f,g",
    "repo/tag:v1.2.3+build=7",
    "a@b/c,d/e-f_g.h",
    "x/=/+/@/,/:",
]


def test_odd_character_keys(pair: tuple[Driver, Driver]) -> None:
    a, b = pair

    async def body() -> None:
        for i, key in enumerate(ODD_KEYS):
            await a.put_bytes(key, f"v{i}".encode())
        for i, key in enumerate(ODD_KEYS):
            assert await b.get_bytes(key) == f"v{i}".encode()
            assert await collect(b.read(key, 1)) == str(i).encode()
            info = await b.stat(key)
            assert info is not None and info.key == key
        listed = {info.key async for info in b.list("")}
        assert set(ODD_KEYS) <= listed
        for key in ODD_KEYS:
            assert await a.delete(key)

    run(body())


BAD_KEYS = [
    "",
    "/etc/passwd",
    "..",
    "../x",
    "a/../../x",
    "a/./b",
    "a//b",
    "a/",
    ".",
    "a/b c",
    "a\\b",
    "a/\x00",
    "a/ü",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_refused(pair: tuple[Driver, Driver], key: str) -> None:
    a, _ = pair

    async def body() -> None:
        with pytest.raises(InvalidKey):
            await a.put_bytes(key, b"x")
        with pytest.raises(InvalidKey):
            await a.get_bytes(key)
        with pytest.raises(InvalidKey):
            await a.stat(key)
        with pytest.raises(InvalidKey):
            await a.delete(key)
        with pytest.raises(InvalidKey):
            await collect(a.read(key))
        upload = new_id()
        state = await a.create_upload(upload)
        with pytest.raises(InvalidKey):
            await a.commit_upload(upload, state, 0, key)
        await a.delete_upload(upload, state)
        for bad_id in ("../x", "short", "a/b/c/d/e/f", ""):
            with pytest.raises(InvalidKey):
                await a.create_upload(bad_id)

    run(body())


def test_ranges_at_the_edges(pair: tuple[Driver, Driver]) -> None:
    a, b = pair
    data = os.urandom(1000)

    async def body() -> None:
        await a.put_bytes("r/obj", data)
        assert await collect(b.read("r/obj")) == data
        assert await collect(b.read("r/obj", 0)) == data
        assert await collect(b.read("r/obj", 0, 1)) == data[:1]
        assert await collect(b.read("r/obj", 999, 1)) == data[999:]
        assert await collect(b.read("r/obj", 999)) == data[999:]
        assert await collect(b.read("r/obj", 990, 100)) == data[990:]  # length past the end
        assert await collect(b.read("r/obj", 0, 5000)) == data
        assert await collect(b.read("r/obj", 500, 0)) == b""
        assert await collect(b.read("r/obj", 1000)) == b""  # offset at the end
        assert await collect(b.read("r/obj", 4000, 10)) == b""  # offset past the end
        assert await collect(b.read("r/obj", 123, 456)) == data[123:579]
        with pytest.raises(KeyNotFound):
            await collect(b.read("r/missing"))
        with pytest.raises(KeyNotFound):
            await collect(b.read("r/missing", 0, 0))
        await a.put_bytes("r/empty", b"")
        assert await collect(b.read("r/empty")) == b""
        assert await collect(b.read("r/empty", 0, 0)) == b""
        await a.delete("r/obj")
        await a.delete("r/empty")

    run(body())


def test_list_paginates(pair: tuple[Driver, Driver]) -> None:
    """More than 1000 keys (S3's page size); a prefix is a directory, not a string prefix."""
    a, b = pair
    keys = {f"many/k/{i:05d}" for i in range(1100)}

    async def body() -> None:
        limit = asyncio.Semaphore(16)

        async def put(key: str) -> None:
            async with limit:
                await a.put_bytes(key, key.encode())

        await asyncio.gather(*(put(k) for k in keys))
        await a.put_bytes("many/k2/sibling", b"s")
        await a.put_bytes("many/kk", b"s")
        listed = [info async for info in b.list("many/k")]
        assert len(listed) == len(keys)
        assert {info.key for info in listed} == keys
        assert all(info.size == len(info.key) for info in listed)
        assert {info.key async for info in b.list("many/k2")} == {"many/k2/sibling"}
        assert [info async for info in b.list("many/none")] == []
        everything = {info.key async for info in b.list("many")}
        assert everything == keys | {"many/k2/sibling", "many/kk"}
        await asyncio.gather(*(put_delete(a, k, limit) for k in everything))

    async def put_delete(d: Driver, key: str, limit: asyncio.Semaphore) -> None:
        async with limit:
            assert await d.delete(key)

    run(body())


# --- uploads -------------------------------------------------------------------
def test_upload_resume_across_instances(pair: tuple[Driver, Driver]) -> None:
    """Each PATCH lands on the other instance at the persisted offset/state; chunk sizes
    cross S3's 5 MiB part boundary in every way (1 byte, 3 MiB, 7 MiB, …)."""
    a, b = pair
    sizes = [1, 3 * MiB, 7 * MiB, 1, 2, 5 * MiB - 3, 5 * MiB, 3, 11 * MiB + 5, 1, 1]
    chunks = [os.urandom(n) for n in sizes]
    data = b"".join(chunks)

    async def body() -> None:
        upload = new_id()
        state = await a.create_upload(upload)
        offset = 0
        for i, chunk in enumerate(chunks):
            driver = (a, b)[i % 2]
            state, offset = await append(driver, upload, state, offset, chunk, piece=3 * MiB)
        assert offset == len(data)
        assert await collect(b.read_upload(upload, state, 10)) == data[:10]
        key = blob_key(data)
        await b.commit_upload(upload, state, offset, key)
        info = await a.stat(key)
        assert info is not None and info.size == len(data)
        assert hashlib.sha256(await collect(a.read(key))).digest() == hashlib.sha256(data).digest()
        assert await collect(a.read(key, len(data) - 7)) == data[-7:]
        assert await a.delete(key)

    run(body())


def test_append_upload_whole_bodies(pair: tuple[Driver, Driver]) -> None:
    """Small bodies appended in one call each (the push path of small blobs), mixed with
    the writer, on both instances; a crash's leftover past the offset is dropped."""
    a, b = pair
    first, second, third = os.urandom(3000), os.urandom(17), os.urandom(5000)
    data = first + second + third

    async def body() -> None:
        upload = new_id()
        state = await a.create_upload(upload)
        state = await a.append_upload(upload, state, 0, [first[:1000], bytearray(first[1000:])])
        state, offset = await append(b, upload, state, len(first), second)
        state = await b.append_upload(upload, state, offset, [third])
        key = blob_key(data)
        await a.commit_upload(upload, state, len(data), key)
        assert await collect(b.read(key)) == data
        assert await b.delete(key)

    run(body())


def test_read_upload_for_rehash(pair: tuple[Driver, Driver]) -> None:
    """read_upload (the core re-hashes with it for another algorithm) and a commit after."""
    a, b = pair

    async def body() -> None:
        for size in (0, 100, 12 * MiB + 7):
            data = os.urandom(size)
            upload = new_id()
            state = await a.create_upload(upload)
            state, offset = await append(a, upload, state, 0, data)
            assert await collect(b.read_upload(upload, state, offset)) == data
            key = blob_key(data)
            await b.commit_upload(upload, state, offset, key)
            assert await collect(a.read(key)) == data
            await a.delete(key)

    run(body())


def test_abort_keeps_previous_offset(pair: tuple[Driver, Driver]) -> None:
    a, b = pair
    first, dropped, last = os.urandom(2 * MiB), os.urandom(9 * MiB), os.urandom(MiB + 1)

    async def body() -> None:
        upload = new_id()
        state = await a.create_upload(upload)
        state, offset = await append(a, upload, state, 0, first)
        writer = await b.open_upload(upload, state, offset)
        for start in range(0, len(dropped), 3 * MiB):
            await writer.write(dropped[start : start + 3 * MiB])
        await writer.abort()  # e.g. the client disconnected mid-PATCH
        state, offset = await append(a, upload, state, offset, last)
        assert offset == len(first) + len(last)
        key = blob_key(first + last)
        await a.commit_upload(upload, state, offset, key)
        assert await collect(b.read(key)) == first + last
        await a.delete(key)

    run(body())


def test_crash_between_write_and_commit(pair: tuple[Driver, Driver]) -> None:
    """A writer that dies after writing (before close, or after close but before the
    commit) leaves no visible blob; another instance resumes at the persisted offset and
    the dead writer's extra bytes are discarded; GC finds and removes the staging."""
    a, b = pair
    persisted, lost, rest = os.urandom(3 * MiB), os.urandom(8 * MiB), os.urandom(4 * MiB)

    async def body() -> None:
        upload = new_id()
        state = await a.create_upload(upload)
        state, offset = await append(a, upload, state, 0, persisted)
        writer = await a.open_upload(upload, state, offset)
        for start in range(0, len(lost), 2 * MiB):
            await writer.write(lost[start : start + 2 * MiB])
        await simulate_crash(writer)
        assert [info async for info in b.list("blobs")] == []
        assert upload in {info.key async for info in b.list_uploads()}
        state, offset = await append(b, upload, state, offset, rest)
        key = blob_key(persisted + rest)
        assert await b.stat(key) is None
        # crash after close, before commit: still nothing visible
        assert [info async for info in a.list("blobs")] == []
        await b.commit_upload(upload, state, offset, key)
        assert await collect(a.read(key)) == persisted + rest
        await a.delete(key)

        # an abandoned upload (never committed): GC lists it and deletes it without state
        upload = new_id()
        state = await a.create_upload(upload)
        state, offset = await append(a, upload, state, 0, os.urandom(6 * MiB + 1))
        stale = {info.key: info async for info in b.list_uploads()}
        assert upload in stale and stale[upload].mtime <= time.time() + 60
        await b.delete_upload(upload, "")
        assert upload not in {info.key async for info in a.list_uploads()}
        await b.delete_upload(upload, "")  # missing staging is not an error

    run(body())


def test_commit_empty_upload(pair: tuple[Driver, Driver]) -> None:
    a, b = pair
    key = blob_key(b"")

    async def body() -> None:
        for driver in (a, b):  # the second commit finds the blob already there
            upload = new_id()
            state = await driver.create_upload(upload)
            state, offset = await append(driver, upload, state, 0, b"")
            await driver.commit_upload(upload, state, offset, key)
        info = await b.stat(key)
        assert info is not None and info.size == 0
        assert await a.get_bytes(key) == b""
        assert await collect(a.read(key)) == b""
        assert await collect(a.read(key, 0, 0)) == b""
        await a.delete(key)

    run(body())


def test_two_commits_of_one_digest(pair: tuple[Driver, Driver]) -> None:
    """Two replicas push the same blob at once: both commits succeed, one blob results."""
    a, b = pair

    async def body() -> None:
        for size in (10, 7 * MiB):
            data = os.urandom(size)
            key = blob_key(data)
            uploads = []
            for driver in (a, b):
                upload = new_id()
                state = await driver.create_upload(upload)
                state, offset = await append(driver, upload, state, 0, data)
                uploads.append((driver, upload, state, offset))
            await asyncio.gather(*(d.commit_upload(u, s, o, key) for d, u, s, o in uploads))
            assert await collect(a.read(key)) == data
            assert [info.key async for info in a.list("blobs")] == [key]
            await a.delete(key)

    run(body())


def test_two_writers_on_one_upload(pair: tuple[Driver, Driver]) -> None:
    """What if the core's lease is bypassed (lease expired while a PATCH still ran)?

    The core guarantees one writer per upload (a lease in the session row, renewed while
    a PATCH streams) and persists offset, hash state and driver state together, so the
    row always describes one writer's bytes. The drivers then guarantee: committing with
    the state the core persisted last publishes exactly that writer's bytes. A state
    from the *other* writer may be inconsistent with the bytes (filesystem: both wrote
    the same file; S3: a part number was overwritten) — it either fails (S3: InvalidPart
    at completion) or yields bytes that don't match its hash, which the core's digest
    check at commit rejects. No unverified blob is ever published."""
    a, b = pair
    base = os.urandom(MiB)
    one, two = os.urandom(6 * MiB), os.urandom(7 * MiB)

    async def body() -> None:
        upload = new_id()
        state0 = await a.create_upload(upload)
        state0, offset0 = await append(a, upload, state0, 0, base)
        w1 = await a.open_upload(upload, state0, offset0)
        w2 = await b.open_upload(upload, state0, offset0)
        await w1.write(one)
        await w2.write(two)
        state1 = await w1.close()
        state2 = await w2.close()  # w2 closes last: its state is the one persisted
        key = blob_key(base + two)
        await b.commit_upload(upload, state2, offset0 + len(two), key)
        assert await collect(a.read(key)) == base + two
        await a.delete(key)
        await a.delete_upload(upload, state1)

    run(body())


# --- large objects ---------------------------------------------------------------
def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
def test_large_object_memory_flat(pair: tuple[Driver, Driver]) -> None:
    """1 GiB through an upload (4 MiB writes, like the core) and back, streamed: the test
    process's RSS must not grow by more than ~100 MiB."""
    a, b = pair
    size, piece = 1024 * MiB, 4 * MiB
    block = os.urandom(piece)

    async def body() -> None:
        baseline = peak = _rss()
        upload = new_id()
        state = await a.create_upload(upload)
        writer = await a.open_upload(upload, state, 0)
        expected = hashlib.sha256()
        for i in range(size // piece):
            chunk = i.to_bytes(8, "big") + block[8:]
            expected.update(chunk)
            await writer.write(chunk)
            peak = max(peak, _rss())
        state = await writer.close()
        key = f"blobs/sha256/la/{expected.hexdigest()}"
        await b.commit_upload(upload, state, size, key)
        info = await a.stat(key)
        assert info is not None and info.size == size
        actual = hashlib.sha256()
        async for chunk in b.read(key):
            actual.update(chunk)
            peak = max(peak, _rss())
        assert actual.hexdigest() == expected.hexdigest()
        tail = await collect(a.read(key, size - 10))
        assert tail == block[-10:]
        await a.delete(key)
        growth = (peak - baseline) / MiB
        print(f"{type(a).__name__}: RSS growth {growth:.1f} MiB")
        assert growth < 100, f"RSS grew by {growth:.0f} MiB"

    run(body())


# --- S3 specifics ----------------------------------------------------------------
@pytest.fixture
def s3pair(seaweed: S3Endpoint) -> Iterator[tuple[S3Driver, S3Driver]]:
    prefix = f"s3-{secrets.token_hex(4)}"
    drivers = (make_s3(seaweed, prefix), make_s3(seaweed, prefix, redirect=True))

    yield from started(drivers)


@pytest.mark.services
def test_s3_start_fails_clearly(seaweed: S3Endpoint) -> None:
    async def body() -> None:
        wrong_bucket = S3Driver(
            "no-such-bucket",
            endpoint=seaweed.url,
            access_key=seaweed.access_key,
            secret_key=seaweed.secret_key,
        )
        with pytest.raises(StorageError, match=r"storage\.s3\.bucket.*no-such-bucket"):
            await wrong_bucket.start()
        await wrong_bucket.close()
        bad_secret = S3Driver(
            seaweed.bucket,
            endpoint=seaweed.url,
            access_key=seaweed.access_key,
            secret_key="wrong" + seaweed.secret_key,
        )
        with pytest.raises(StorageError, match=r"storage\.s3: access .* denied"):
            await bad_secret.start()
        await bad_secret.close()
        unreachable = S3Driver(
            seaweed.bucket, endpoint="http://127.0.0.1:9", access_key="a", secret_key="b"
        )
        with pytest.raises(StorageError, match="cannot reach"):
            await unreachable.start()
        await unreachable.close()

    run(body())


@pytest.mark.services
def test_s3_abandoned_multipart_uploads_listed_and_aborted(
    s3pair: tuple[S3Driver, S3Driver], seaweed: S3Endpoint
) -> None:
    a, b = s3pair
    client: Any = seaweed.client()

    def open_mpus() -> list[str]:
        found = client.list_multipart_uploads(Bucket=seaweed.bucket, Prefix=a.prefix)
        return [u["Key"] for u in found.get("Uploads", [])]

    async def body() -> None:
        upload = new_id()
        state = await a.create_upload(upload)
        _state, _offset = await append(a, upload, state, 0, os.urandom(6 * MiB))
        # a writer that dies after starting a multipart upload it never recorded
        ghost = new_id()
        writer = await a.open_upload(ghost, await a.create_upload(ghost), 0)
        await writer.write(os.urandom(5 * MiB))
        await simulate_crash(writer)
        assert len(open_mpus()) == 2
        listed = {info.key async for info in b.list_uploads()}
        assert {upload, ghost} <= listed
        for info in [info async for info in b.list_uploads()]:
            await b.delete_upload(info.key, "")  # GC purge: no state needed
        assert open_mpus() == []
        assert [info async for info in b.list_uploads()] == []

    run(body())


@pytest.mark.services
def test_s3_multipart_copy_beyond_copy_limit(seaweed: S3Endpoint) -> None:
    """Commits above CopyObject's 5 GiB limit use UploadPartCopy (limit lowered here)."""
    prefix = f"copy-{secrets.token_hex(4)}"
    driver = make_s3(seaweed, prefix, copy_limit=6 * MiB)
    data = os.urandom(13 * MiB + 17)

    async def body() -> None:
        await driver.start()
        upload = new_id()
        state = await driver.create_upload(upload)
        state, offset = await append(driver, upload, state, 0, data)
        key = blob_key(data)
        await driver.commit_upload(upload, state, offset, key)
        assert await collect(driver.read(key)) == data
        await driver.delete(key)
        assert [info async for info in driver.list_uploads()] == []
        await driver.close()

    run(body())


@pytest.mark.services
def test_s3_redirect_presigned_url(s3pair: tuple[S3Driver, S3Driver]) -> None:
    plain, redirecting = s3pair
    data = os.urandom(4096)

    async def body() -> tuple[str | None, str | None]:
        await plain.put_bytes("blobs/sha256/aa/presign+me", data)
        return (
            await plain.redirect_url("blobs/sha256/aa/presign+me"),
            await redirecting.redirect_url("blobs/sha256/aa/presign+me"),
        )

    none, url = run(body())
    assert none is None and url is not None
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == data
    request = urllib.request.Request(url, headers={"Range": "bytes=10-19"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 206 and response.read() == data[10:20]
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(tampered, timeout=10)
    assert excinfo.value.code == 403
    run(plain.delete("blobs/sha256/aa/presign+me"))


@pytest.mark.services
def test_s3_tail_segments_are_bounded(s3pair: tuple[S3Driver, S3Driver]) -> None:
    """Many tiny PATCHes: the tail is merged past MAX_SEGMENTS, superseded segments are
    deleted once the next state is opened, and the result is right."""
    a, b = s3pair
    pieces = [os.urandom(1 + i % 7) for i in range(80)]

    async def body() -> None:
        upload = new_id()
        state = await a.create_upload(upload)
        offset = 0
        for i, piece in enumerate(pieces):
            state, offset = await append((a, b)[i % 2], upload, state, offset, piece)
        objects = [info async for info in a.list(f"uploads/{upload}")]
        assert 1 <= len(objects) <= 40
        data = b"".join(pieces)
        key = blob_key(data)
        await a.commit_upload(upload, state, offset, key)
        assert await a.get_bytes(key) == data
        await a.delete(key)

    run(body())


# --- NFS-safe specifics ----------------------------------------------------------
def test_nfs_safe_temp_files(tmp_path: Path) -> None:
    a = FilesystemDriver(tmp_path / "store", nfs_safe=True)
    b = FilesystemDriver(tmp_path / "store", nfs_safe=True)
    assert a._tag != b._tag  # unique per instance even within one process

    async def body() -> None:
        await a.start()
        await a.put_bytes("blobs/sha256/ab/abc", b"x")
        # a crash between create and rename leaves a temp file behind
        leftover = a._tmp_name(a.root / "blobs/sha256/ab", "abd")
        leftover.write_bytes(b"partial")
        assert {i.key async for i in b.list("blobs")} == {"blobs/sha256/ab/abc"}
        assert [i async for i in b.list_stale_temp(3600)] == []
        old = time.time() - 7200
        os.utime(leftover, (old, old))
        stale = [i async for i in b.list_stale_temp(3600)]
        assert [i.key for i in stale] == [str(leftover.relative_to(a.root))]
        assert await b.delete(stale[0].key)
        assert not leftover.exists()

    run(body())


def test_nfs_safe_commit_never_replaces_a_blob(tmp_path: Path) -> None:
    """A published blob keeps its inode: a reader streaming it on another NFS client is
    never left with a stale handle by a second commit of the same digest."""
    a = FilesystemDriver(tmp_path / "store", nfs_safe=True)
    data = os.urandom(1000)
    key = blob_key(data)

    async def body() -> int:
        await a.start()
        inodes = []
        for _ in range(2):
            upload = new_id()
            state = await a.create_upload(upload)
            state, offset = await append(a, upload, state, 0, data)
            await a.commit_upload(upload, state, offset, key)
            inodes.append((a.root / key).stat().st_ino)
        assert inodes[0] == inodes[1]
        return len([i async for i in a.list_uploads()])

    assert run(body()) == 0


def test_driver_base_lists_no_temp() -> None:
    class Bare(S3Driver):
        pass

    async def body() -> list[Any]:
        return [i async for i in Bare("bucket").list_stale_temp(0)]

    assert run(body()) == []


# --- configuration and wiring ----------------------------------------------------
def test_config_requires_s3_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"storage\.s3"):
        load_settings(environ={"WHARF_STORAGE__DRIVER": "s3"})
    with pytest.raises(ConfigError, match="part_size"):
        load_settings(
            environ={
                "WHARF_STORAGE__DRIVER": "s3",
                "WHARF_STORAGE__S3__BUCKET": "bucket",
                "WHARF_STORAGE__S3__PART_SIZE": "1MiB",
            }
        )
    with pytest.raises(ConfigError, match="secret_key"):
        load_settings(
            environ={"WHARF_STORAGE__S3__BUCKET": "bucket", "WHARF_STORAGE__S3__ACCESS_KEY": "a"}
        )
    settings = load_settings(
        environ={
            "WHARF_STORAGE__DRIVER": "s3",
            "WHARF_STORAGE__S3__BUCKET": "bucket",
            "WHARF_STORAGE__S3__PREFIX": "/wharf/",
            "WHARF_STORAGE__S3__PART_SIZE": "8MiB",
            "WHARF_STORAGE__S3__REDIRECT": "true",
        }
    )
    driver = make_driver(settings)
    assert isinstance(driver, S3Driver)
    assert (driver.bucket, driver.prefix, driver.part_size, driver.redirect) == (
        "bucket",
        "wharf/",
        8 * MiB,
        True,
    )
    fs = make_driver(
        load_settings(
            environ={"WHARF_STORAGE__FILESYSTEM__NFS_SAFE": "true", "WHARF_DATA_DIR": str(tmp_path)}
        )
    )
    assert isinstance(fs, FilesystemDriver) and fs.nfs_safe
