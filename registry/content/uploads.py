"""Blob uploads: sessions, chunks streamed to storage while hashed, verification, commit."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from wharf.registry.content.gatekeeping import abandon, admit, ask
from wharf.registry.content.hashing import ResumableHash
from wharf.registry.content.lease import LEASE_SECONDS, Leases
from wharf.registry.content.pins import pin_digest
from wharf.registry.events import Actor
from wharf.registry.metadata.base import MetadataStore, UploadSession
from wharf.registry.oci.errors import (
    BLOB_UPLOAD_INVALID,
    BLOB_UPLOAD_UNKNOWN,
    DIGEST_INVALID,
    RANGE_INVALID,
    SIZE_INVALID,
    UNSUPPORTED,
    RegistryError,
)
from wharf.registry.oci.names import Digest
from wharf.registry.policy.gate import PolicyGate, UploadCommit, UploadStart
from wharf.storage.base import Driver, KeyNotFound, StorageError, StorageFull

log = logging.getLogger("wharf.content")

BUFFER_SIZE = 4 * 1024 * 1024
INLINE_HASH = 256 * 1024  # hashed on the event loop (~0.15 ms) rather than in a thread
Body = AsyncIterator[bytes | bytearray]  # a request body, in pieces


def _hash_chunks(hasher: ResumableHash, chunks: list[bytes | bytearray]) -> None:
    for chunk in chunks:
        hasher.update(chunk)


class Uploads:
    def __init__(self, store: MetadataStore, driver: Driver, gate: PolicyGate) -> None:
        self.store = store
        self.driver = driver
        self.gate = gate
        self.leases = Leases(store)

    async def start(self, repo: str, actor: Actor) -> UploadSession:
        await ask(self.gate, UploadStart(actor, repo))
        upload_id = str(uuid.uuid4())
        driver_state = await self.driver.create_upload(upload_id)
        now = time.time()
        session = UploadSession(
            upload_id, repo, 0, "sha256", ResumableHash("sha256").state(), driver_state, now, now
        )
        await self.store.create_upload(session)
        return session

    async def status(self, repo: str, upload_id: str) -> UploadSession:
        session = await self.store.get_upload(upload_id)
        if session is None or session.repo != repo:
            raise RegistryError(BLOB_UPLOAD_UNKNOWN, {"uuid": upload_id})
        return session

    async def cancel(self, repo: str, upload_id: str) -> None:
        session = await self.status(repo, upload_id)
        await self.store.delete_upload(session.id)
        await self.driver.delete_upload(session.id, session.driver_state)

    async def append(
        self, repo: str, upload_id: str, chunks: Body, start: int | None, length: int | None
    ) -> UploadSession:
        """Append a PATCH body. ``start`` (from Content-Range) must be the current offset."""
        session, _, _ = await self.leases.claim(repo, upload_id)  # exists, in this repository
        claimed_offset = session.offset
        try:
            if start is not None and start != session.offset:
                raise _range_error(session)
            await self._write(session, chunks, length)
        finally:
            await self.leases.release(session, claimed_offset)
        return session

    async def finish(
        self,
        repo: str,
        upload_id: str,
        digest: Digest,
        chunks: Body | None,
        actor: Actor,
        length: int | None = None,
    ) -> None:
        """Commit the upload as ``digest``, after appending ``chunks`` (``length`` bytes
        when the request said how many)."""
        key = str(digest)
        brings = 0 if chunks is None else length
        wanted = None
        if brings is not None:  # the size is known before the bytes: admit with the claim
            wanted = await self.gate.reservation(UploadCommit(actor, repo, key, brings))
        # the digest is pinned (GC's protocol) and a quota's admission taken with the
        # lease: before the digest is verified, but a pin only protects, an admission is
        # released if the commit does not happen, and neither costs a transaction
        session, pinned, verdict = await self.leases.claim(repo, upload_id, pin=key, quota=wanted)
        claimed_offset = session.offset
        taken = None
        if verdict is not None and brings is not None:
            taken = UploadCommit(actor, repo, key, claimed_offset + brings, admitted=verdict)
        admitted: UploadCommit | None = None
        try:
            if chunks is not None:
                await self._write(session, chunks, brings)
            await self._verify(session, digest)
            commit = taken or UploadCommit(actor, repo, key, session.offset)
            await ask(self.gate, commit)
            admitted = commit
            if not pinned:  # GC was deleting that digest: wait until it is done
                await pin_digest(self.store, key)
            await self.driver.commit_upload(
                session.id, session.driver_state, session.offset, digest.key
            )
        except BaseException:
            held = admitted or taken
            if held is not None:
                await abandon(self.gate, held)
            await self.leases.release(session, claimed_offset)
            raise
        try:
            await self.store.add_blob(repo, str(digest), session.offset, finished_upload=session.id)
        except BaseException:
            await abandon(self.gate, admitted)
            raise

    async def whole(self, repo: str, digest: Digest, chunks: Body, actor: Actor) -> None:
        """A monolithic upload (POST with ?digest=): one request, no session row."""
        await ask(self.gate, UploadStart(actor, repo))
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
        admitted: UploadCommit | None = None
        try:
            await self._write(session, chunks, None)
            await self._verify(session, digest)
            commit = UploadCommit(actor, repo, str(digest), session.offset)
            admitted, pinned = await admit(self.gate, self.store, commit)
            if not pinned:
                await pin_digest(self.store, str(digest))
            await self.driver.commit_upload(
                upload_id, session.driver_state, session.offset, digest.key
            )
        except BaseException:
            if admitted is not None:
                await abandon(self.gate, admitted)
            await self.driver.delete_upload(upload_id, session.driver_state)
            raise
        try:
            await self.store.add_blob(repo, str(digest), session.offset)
        except BaseException:
            await abandon(self.gate, admitted)
            raise

    async def _write(self, session: UploadSession, chunks: Body, expected: int | None) -> None:
        """Stream ``chunks`` into the upload, hashing in the same pass. On any failure the
        bytes of this request are dropped and the session is left as it was."""
        # a body that ends within the first BUFFER_SIZE bytes (layers of small images,
        # configs) is appended in one driver call and, when small, hashed right here
        body = aiter(chunks)
        batch: list[bytes | bytearray] = []
        batch_size = 0
        async for chunk in body:
            batch.append(chunk)
            batch_size += len(chunk)
            if batch_size >= BUFFER_SIZE:
                break
        else:
            await self._write_small(session, batch, batch_size, expected)
            return
        await self._write_stream(session, batch, body, expected)

    async def _write_small(
        self,
        session: UploadSession,
        batch: list[bytes | bytearray],
        size: int,
        expected: int | None,
    ) -> None:
        if expected is not None and size != expected:
            raise _size_error(expected, size)
        hasher = ResumableHash(session.hash_algorithm, session.hash_state)
        if size <= INLINE_HASH:
            _hash_chunks(hasher, batch)
            hashing = None
        else:
            hashing = asyncio.get_running_loop().run_in_executor(None, _hash_chunks, hasher, batch)
        try:
            with _storage_errors(session.id):
                driver_state = await self.driver.append_upload(
                    session.id, session.driver_state, session.offset, batch
                )
        finally:
            if hashing is not None:
                await asyncio.gather(hashing, return_exceptions=True)
        session.offset += size
        session.hash_state = hasher.state()
        session.driver_state = driver_state

    async def _write_stream(
        self,
        session: UploadSession,
        batch: list[bytes | bytearray],
        rest: Body,
        expected: int | None,
    ) -> None:
        with _storage_errors(session.id):
            writer = await self.driver.open_upload(session.id, session.driver_state, session.offset)
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
        batch_size = sum(len(chunk) for chunk in batch)
        last_renew = time.monotonic()
        try:
            pending = flush(batch)
            written += batch_size
            batch, batch_size = [], 0
            async for chunk in rest:
                batch.append(chunk)
                batch_size += len(chunk)
                if batch_size < BUFFER_SIZE:
                    continue
                await pending
                pending = flush(batch)
                written += batch_size
                batch, batch_size = [], 0
                if time.monotonic() - last_renew > LEASE_SECONDS / 3:
                    last_renew = time.monotonic()
                    await self.leases.renew(session)
            await pending
            pending = None
            if batch:
                written += batch_size
                await flush(batch)
            if expected is not None and written != expected:
                raise _size_error(expected, written)
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


def _size_error(expected: int, received: int) -> RegistryError:
    return RegistryError(
        SIZE_INVALID,
        {"expected": expected, "received": received},
        message="chunk length does not match Content-Range",
    )


@contextmanager
def _storage_errors(upload_id: str) -> Iterator[None]:
    """The driver's errors on an upload's staging, as the API answers them."""
    try:
        yield
    except KeyNotFound:
        raise RegistryError(BLOB_UPLOAD_UNKNOWN, {"uuid": upload_id}) from None
    except StorageFull:
        raise
    except StorageError as exc:
        log.warning("upload staging damaged", extra={"uuid": upload_id, "error": str(exc)})
        raise RegistryError(
            BLOB_UPLOAD_INVALID, {"uuid": upload_id}, message="upload lost data; restart it"
        ) from None


def _range_error(session: UploadSession) -> RegistryError:
    end = max(session.offset - 1, 0)
    return RegistryError(
        RANGE_INVALID,
        {"offset": session.offset},
        message="chunk does not start at the upload's current offset",
        headers={"Range": f"0-{end}", "Docker-Upload-UUID": session.id},
    )
