"""The content core: blobs, uploads, manifests, tags, referrers and the catalog.

Handlers call this; it calls the metadata store and the storage driver. It knows
nothing of HTTP beyond raising `RegistryError`s from the catalog.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from wharf.registry.content.hashing import ResumableHash
from wharf.registry.metadata.base import ManifestRecord, MetadataStore, UploadSession
from wharf.registry.oci.errors import (
    BLOB_UNKNOWN,
    BLOB_UPLOAD_INVALID,
    BLOB_UPLOAD_UNKNOWN,
    DIGEST_INVALID,
    MANIFEST_BLOB_UNKNOWN,
    MANIFEST_TOO_LARGE,
    MANIFEST_UNKNOWN,
    NAME_UNKNOWN,
    RANGE_INVALID,
    SIZE_INVALID,
    UNSUPPORTED,
    RegistryError,
)
from wharf.registry.oci.manifests import OCI_INDEX, parse_manifest
from wharf.registry.oci.names import Digest, parse_digest
from wharf.storage.base import Driver, KeyNotFound, StorageError

log = logging.getLogger("wharf.content")

BUFFER_SIZE = 4 * 1024 * 1024
Body = AsyncIterator[bytes | bytearray]  # a request body, in pieces
LEASE_SECONDS = 180.0


@dataclass(frozen=True, slots=True)
class BlobHandle:
    digest: Digest
    size: int
    local_path: Path | None
    redirect_url: str | None


@dataclass(frozen=True, slots=True)
class StoredManifest:
    record: ManifestRecord
    content: bytes


@dataclass(frozen=True, slots=True)
class PutManifestOutcome:
    digest: str
    subject: str | None


def _holder_is_dead(holder: str) -> bool:
    """A lease holder on this host whose process is gone (a killed worker or server): its
    lease need not be waited out. Holders on other hosts are trusted until expiry."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != os.uname().nodename or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # another request of this process: alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _hash_chunks(hasher: ResumableHash, chunks: list[bytes | bytearray]) -> None:
    for chunk in chunks:
        hasher.update(chunk)


class ManifestCache:
    """Manifests by digest are immutable: keep the hot ones in memory, bounded by bytes."""

    def __init__(self, max_bytes: int) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes

    def get(self, digest: str) -> bytes | None:
        content = self._items.get(digest)
        if content is not None:
            self._items.move_to_end(digest)
        return content

    def put(self, digest: str, content: bytes) -> None:
        if len(content) > self._max or digest in self._items:
            return
        self._items[digest] = content
        self._bytes += len(content)
        while self._bytes > self._max:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped)


class ContentService:
    def __init__(
        self,
        store: MetadataStore,
        driver: Driver,
        *,
        manifest_max_size: int = 4 * 1024 * 1024,
        delete_enabled: bool = True,
        manifest_cache_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.store = store
        self.driver = driver
        self.manifest_max_size = manifest_max_size
        self.delete_enabled = delete_enabled
        self.manifests = ManifestCache(manifest_cache_bytes)
        # lease owners read "host:pid:…" so a dead holder on this host can be recognised
        self._owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    # --- blobs ---------------------------------------------------------------
    async def blob(self, repo: str, digest: Digest) -> BlobHandle:
        size = await self.store.repo_blob_size(repo, str(digest))
        if size is None:
            raise RegistryError(BLOB_UNKNOWN, {"digest": str(digest)})
        path = self.driver.local_path(digest.key)
        redirect = None if path is not None else await self.driver.redirect_url(digest.key)
        return BlobHandle(digest, size, path, redirect)

    def read_blob(self, digest: Digest, offset: int, length: int) -> AsyncIterator[bytes]:
        return self.driver.read(digest.key, offset, length)

    async def delete_blob(self, repo: str, digest: Digest) -> None:
        self._require_delete()
        if not await self.store.unlink_blob(repo, str(digest)):
            raise RegistryError(BLOB_UNKNOWN, {"digest": str(digest)})

    def _require_delete(self) -> None:
        if not self.delete_enabled:
            raise RegistryError(UNSUPPORTED, message="deletes are disabled on this registry")

    async def mount(
        self, repo: str, digest: Digest, source: str | None, readable: Callable[[str], bool]
    ) -> bool:
        """Link an existing blob into ``repo`` from ``source`` (or, when None, from any
        repository the caller may read). False when no mount is possible."""
        key = str(digest)
        if source is not None:
            if not readable(source) or await self.store.repo_blob_size(source, key) is None:
                return False
        else:
            candidates = await self.store.repos_with_blob(key)
            if not any(readable(name) for name in candidates):
                return False
        if await self.driver.stat(digest.key) is None:
            return False  # metadata without content: let the client upload again
        return await self.store.link_blob(repo, key)

    # --- uploads -------------------------------------------------------------
    async def start_upload(self, repo: str) -> UploadSession:
        upload_id = str(uuid.uuid4())
        driver_state = await self.driver.create_upload(upload_id)
        now = time.time()
        session = UploadSession(
            upload_id, repo, 0, "sha256", ResumableHash("sha256").state(), driver_state, now, now
        )
        await self.store.create_upload(session)
        return session

    async def upload_status(self, repo: str, upload_id: str) -> UploadSession:
        session = await self.store.get_upload(upload_id)
        if session is None or session.repo != repo:
            raise RegistryError(BLOB_UPLOAD_UNKNOWN, {"uuid": upload_id})
        return session

    async def cancel_upload(self, repo: str, upload_id: str) -> None:
        session = await self.upload_status(repo, upload_id)
        await self.store.delete_upload(session.id)
        await self.driver.delete_upload(session.id, session.driver_state)

    async def append(
        self,
        repo: str,
        upload_id: str,
        chunks: Body,
        start: int | None,
        length: int | None,
    ) -> UploadSession:
        """Append a PATCH body. ``start`` (from Content-Range) must be the current offset."""
        session = await self._claim(repo, upload_id)
        claimed_offset = session.offset
        try:
            if start is not None and start != session.offset:
                raise self._range_error(session)
            await self._write(session, chunks, length)
        finally:
            await self._release(session, claimed_offset)
        return session

    async def finish_upload(
        self, repo: str, upload_id: str, digest: Digest, chunks: Body | None
    ) -> None:
        session = await self._claim(repo, upload_id)
        claimed_offset = session.offset
        try:
            if chunks is not None:
                await self._write(session, chunks, None)
            await self._verify(session, digest)
            await self.driver.commit_upload(
                session.id, session.driver_state, session.offset, digest.key
            )
        except BaseException:
            await self._release(session, claimed_offset)
            raise
        await self.store.add_blob(repo, str(digest), session.offset)
        await self.store.delete_upload(session.id)

    async def upload_whole(self, repo: str, digest: Digest, chunks: Body) -> None:
        """A monolithic upload (POST with ?digest=): one request, no session row."""
        upload_id = str(uuid.uuid4())
        driver_state = await self.driver.create_upload(upload_id)
        now = time.time()
        session = UploadSession(
            upload_id,
            repo,
            0,
            digest.algorithm,
            ResumableHash(digest.algorithm).state(),
            driver_state,
            now,
            now,
        )
        try:
            await self._write(session, chunks, None)
            await self._verify(session, digest)
            await self.driver.commit_upload(
                upload_id, session.driver_state, session.offset, digest.key
            )
        except BaseException:
            await self.driver.delete_upload(upload_id, session.driver_state)
            raise
        await self.store.add_blob(repo, str(digest), session.offset)

    async def _claim(self, repo: str, upload_id: str) -> UploadSession:
        await self.upload_status(repo, upload_id)  # exists, and in this repository
        now = time.time()
        owner = f"{self._owner}:{uuid.uuid4().hex[:12]}"  # one lease per request
        claimed = await self.store.claim_upload(upload_id, owner, now + LEASE_SECONDS, now)
        if not claimed:
            holder = await self.store.upload_lease_owner(upload_id)
            if holder is not None and _holder_is_dead(holder):
                claimed = await self.store.claim_upload(
                    upload_id, owner, now + LEASE_SECONDS, now, replace=holder
                )
        if not claimed:
            raise RegistryError(
                BLOB_UPLOAD_INVALID,
                {"uuid": upload_id},
                message="another request is writing to this upload",
            )
        # re-read: the previous holder may have advanced the offset before releasing
        fresh = await self.store.get_upload(upload_id)
        if fresh is None:
            raise RegistryError(BLOB_UPLOAD_UNKNOWN, {"uuid": upload_id})
        fresh.lease_owner = owner
        return fresh

    async def _release(self, session: UploadSession, claimed_offset: int) -> None:
        """Save the session (offset, hash and driver state) and drop the lease; a no-op when
        the upload is gone or another writer took over an expired lease meanwhile."""
        session.updated = time.time()
        await self.store.release_upload(session, session.lease_owner, claimed_offset)

    @staticmethod
    def _range_error(session: UploadSession) -> RegistryError:
        end = max(session.offset - 1, 0)
        return RegistryError(
            RANGE_INVALID,
            {"offset": session.offset},
            message="chunk does not start at the upload's current offset",
            headers={
                "Range": f"0-{end}",
                "Docker-Upload-UUID": session.id,
            },
        )

    async def _write(self, session: UploadSession, chunks: Body, expected: int | None) -> None:
        """Stream ``chunks`` into the upload, hashing in the same pass. On any failure the
        bytes of this request are dropped and the session is left as it was."""
        try:
            writer = await self.driver.open_upload(session.id, session.driver_state, session.offset)
        except KeyNotFound:
            raise RegistryError(BLOB_UPLOAD_UNKNOWN, {"uuid": session.id}) from None
        except StorageError as exc:
            log.warning("upload staging damaged", extra={"uuid": session.id, "error": str(exc)})
            raise RegistryError(
                BLOB_UPLOAD_INVALID, {"uuid": session.id}, message="upload lost data; restart it"
            ) from None
        hasher = ResumableHash(session.hash_algorithm, session.hash_state)
        loop = asyncio.get_running_loop()

        def flush(batch: list[bytes | bytearray]) -> asyncio.Future[tuple[None, None]]:
            # hashing and writing run in two threads at once; the event loop only collects
            # references to the received chunks, so it never copies the body
            return asyncio.gather(
                loop.run_in_executor(None, _hash_chunks, hasher, batch), writer.write_many(batch)
            )

        written = 0
        pending: asyncio.Future[tuple[None, None]] | None = None
        batch: list[bytes | bytearray] = []
        batch_size = 0
        last_renew = time.monotonic()
        try:
            async for chunk in chunks:
                batch.append(chunk)
                batch_size += len(chunk)
                if batch_size < BUFFER_SIZE:
                    continue
                if pending is not None:
                    await pending
                pending = flush(batch)
                written += batch_size
                batch, batch_size = [], 0
                if time.monotonic() - last_renew > LEASE_SECONDS / 3:
                    last_renew = time.monotonic()
                    now = time.time()
                    await self.store.claim_upload(
                        session.id, session.lease_owner, now + LEASE_SECONDS, now
                    )
            if pending is not None:
                await pending
                pending = None
            if batch:
                written += batch_size
                await flush(batch)
            if expected is not None and written != expected:
                raise RegistryError(
                    SIZE_INVALID,
                    {"expected": expected, "received": written},
                    message="chunk length does not match Content-Range",
                )
            driver_state = await writer.close()
        except BaseException:
            if pending is not None:
                await asyncio.gather(pending, return_exceptions=True)
            await writer.abort()
            raise
        session.offset += written
        session.hash_state = hasher.state()
        session.driver_state = driver_state

    async def _verify(self, session: UploadSession, digest: Digest) -> None:
        if digest.algorithm == session.hash_algorithm:
            actual = ResumableHash(session.hash_algorithm, session.hash_state).hexdigest()
        else:
            actual = await self._rehash(session, digest.algorithm)
        if actual != digest.hex:
            await self.store.delete_upload(session.id)
            await self.driver.delete_upload(session.id, session.driver_state)
            raise RegistryError(
                DIGEST_INVALID,
                {"expected": str(digest), "actual": f"{digest.algorithm}:{actual}"},
            )

    async def _rehash(self, session: UploadSession, algorithm: str) -> str:
        """Hash a staged upload again with another algorithm (rare: chunked sha512)."""
        hasher = ResumableHash(algorithm)
        try:
            reader = self.driver.read_upload(session.id, session.driver_state, session.offset)
            async for chunk in reader:
                hasher.update(chunk)
        except (KeyNotFound, StorageError) as exc:
            raise RegistryError(
                UNSUPPORTED, message=f"cannot verify {algorithm} for this upload"
            ) from exc
        return hasher.hexdigest()

    # --- manifests -----------------------------------------------------------
    async def put_manifest(
        self, repo: str, reference: str | Digest, body: bytes, content_type: str | None
    ) -> PutManifestOutcome:
        if len(body) > self.manifest_max_size:
            raise RegistryError(MANIFEST_TOO_LARGE, {"limit": self.manifest_max_size})
        parsed = parse_manifest(body, content_type)
        algorithm = reference.algorithm if isinstance(reference, Digest) else "sha256"
        hasher = ResumableHash(algorithm)
        hasher.update(body)
        digest = Digest(algorithm, hasher.hexdigest())
        if isinstance(reference, Digest) and reference != digest:
            raise RegistryError(DIGEST_INVALID, {"expected": str(reference), "actual": str(digest)})
        await self.driver.put_bytes(digest.key, body)
        record = ManifestRecord(
            str(digest),
            parsed.media_type,
            len(body),
            parsed.artifact_type,
            parsed.subject,
            parsed.annotations,
        )
        tag = None if isinstance(reference, Digest) else reference
        result = await self.store.put_manifest(repo, record, parsed.blobs, parsed.children, tag)
        if result.missing_blobs or result.missing_manifests:
            raise RegistryError(
                MANIFEST_BLOB_UNKNOWN,
                {"blobs": result.missing_blobs, "manifests": result.missing_manifests},
            )
        self.manifests.put(record.digest, body)
        return PutManifestOutcome(record.digest, parsed.subject)

    async def find_manifest(self, repo: str, reference: str | Digest) -> ManifestRecord:
        if isinstance(reference, Digest):
            record = await self.store.get_manifest(repo, str(reference))
        else:
            record = await self.store.resolve_tag(repo, reference)
        if record is None:
            raise RegistryError(MANIFEST_UNKNOWN, {"reference": str(reference)})
        return record

    async def get_manifest(self, repo: str, reference: str | Digest) -> StoredManifest:
        record = await self.find_manifest(repo, reference)
        content = self.manifests.get(record.digest)
        if content is None:
            try:
                content = await self.driver.get_bytes(parse_digest(record.digest).key)
            except KeyNotFound:
                raise RegistryError(MANIFEST_UNKNOWN, {"reference": str(reference)}) from None
            self.manifests.put(record.digest, content)
        return StoredManifest(record, content)

    async def delete_manifest(self, repo: str, reference: str | Digest) -> None:
        self._require_delete()
        if isinstance(reference, Digest):
            deleted = await self.store.delete_manifest(repo, str(reference))
        else:
            deleted = await self.store.delete_tag(repo, reference)
        if not deleted:
            raise RegistryError(MANIFEST_UNKNOWN, {"reference": str(reference)})

    # --- listings ------------------------------------------------------------
    async def list_tags(self, repo: str, last: str | None, limit: int | None) -> list[str]:
        tags = await self.store.list_tags(repo, last, limit)
        if tags is None:
            raise RegistryError(NAME_UNKNOWN, {"name": repo})
        return tags

    async def catalog(
        self, last: str | None, limit: int | None, readable: Callable[[str], bool]
    ) -> list[str]:
        """Up to ``limit`` repositories after ``last`` that ``readable`` admits. Repositories
        the caller may not see are skipped in the store's order, so a page is only short
        when the catalog has run out."""
        if limit is None:
            return [name for name in await self.store.list_repos(last, None) if readable(name)]
        batch = max(limit, 100)
        found: list[str] = []
        cursor = last
        while len(found) < limit:
            rows = await self.store.list_repos(cursor, batch)
            found += [name for name in rows if readable(name)]
            if len(rows) < batch:
                break
            cursor = rows[-1]
        return found[:limit]

    async def referrers(self, repo: str, digest: Digest, artifact_type: str | None) -> bytes:
        records = await self.store.referrers(repo, str(digest), artifact_type)
        manifests = []
        for record in records:
            descriptor: dict[str, object] = {
                "mediaType": record.media_type,
                "digest": record.digest,
                "size": record.size,
            }
            if record.artifact_type:
                descriptor["artifactType"] = record.artifact_type
            if record.annotations:
                descriptor["annotations"] = orjson.loads(record.annotations)
            manifests.append(descriptor)
        return orjson.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
