"""Blob store on an S3-compatible object store (AWS S3, SeaweedFS, MinIO, Ceph RGW, …).

boto3 runs in a dedicated thread pool, so no call ever blocks the event loop (see
README.md in this folder for why not aiobotocore).

Uploads
-------
An upload maps onto one S3 multipart upload whose object is the staging key
``<prefix>uploads/<id>/data``. Client chunks have arbitrary sizes, but every S3 part
but the last must be at least 5 MiB, and the next chunk may arrive at another process.
So the driver cuts the byte stream into parts of exactly ``part_size`` bytes and keeps
the *tail* (the bytes after the last whole part, always < ``part_size``) in the bucket,
as one or more small *segment* objects ``uploads/<id>/seg.<offset>.<random>``:

* ``write`` buffers in memory; when segments + buffer reach ``part_size`` the segments
  are downloaded (bounded: < ``part_size``), prepended, and whole parts are uploaded
  (up to a few in flight); the remainder stays in memory.
* ``close`` stores the remainder as a new segment (one PUT, no read-modify-write, so a
  stream of tiny PATCHes costs one small PUT each); past ``MAX_SEGMENTS`` segments they
  are merged into one.
* ``commit`` uploads the segments as the final (short) part, completes the multipart
  upload at the staging key and server-side copies it to the content address
  (CopyObject up to 5 GiB, UploadPartCopy beyond); an upload that never filled a part
  is published by copying its single segment (or by one PUT of the merged segments,
  < ``part_size``), an empty one by an empty PUT. Nothing is downloaded except the tail.

Everything the next writer needs is in the JSON *state* the core persists in the
upload-session row after each PATCH: ``{"v":1,"mpu":UploadId|null,"parts":[[etag,size],…],
"segs":[[name,size],…],"drop":[name,…]}``. ``drop`` lists segments superseded by this
state (absorbed into a part); they are deleted when the state is next opened — proof
it was persisted — or when the upload is committed or deleted. A writer that aborts
deletes its own new segments; the parts it uploaded sit beyond the state's part count
and are overwritten by the next writer or dropped by CompleteMultipartUpload.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import secrets
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from wharf.storage.base import (
    Driver,
    KeyInfo,
    KeyNotFound,
    StorageError,
    StorageFull,
    UploadWriter,
    check_key,
    check_upload_id,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024**3
MAX_PARTS = 10_000
COPY_LIMIT = 5 * 1024**3  # CopyObject's maximum source size
READ_CHUNK = 1 << 20
MAX_SEGMENTS = 32
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


# Codes S3-compatible stores answer when they are out of space or over a quota: MinIO
# (its free-drive threshold, a bucket quota), Ceph RGW and Swift's S3 layer (a user or
# bucket quota); any store answering 507 Insufficient Storage. (EntityTooLarge is a
# per-object limit, not a full store.)
_FULL_CODES = {"XMinioStorageFull", "XMinioAdminBucketQuotaExceeded", "QuotaExceeded"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_full(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _code(exc) in _FULL_CODES or status == 507


@dataclass
class _State:
    mpu: str | None = None
    parts: list[list[Any]] = field(default_factory=list)  # [etag, size]
    segs: list[list[Any]] = field(default_factory=list)  # [name, size]
    drop: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, raw: str) -> _State:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(data.get("mpu"), data["parts"], data["segs"], data.get("drop", []))
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"corrupt S3 upload state: {raw[:80]!r}") from exc

    def dump(self) -> str:
        return json.dumps(
            {"v": 1, "mpu": self.mpu, "parts": self.parts, "segs": self.segs, "drop": self.drop},
            separators=(",", ":"),
        )

    @property
    def parts_size(self) -> int:
        return sum(int(size) for _etag, size in self.parts)

    @property
    def segs_size(self) -> int:
        return sum(int(size) for _name, size in self.segs)

    @property
    def size(self) -> int:
        return self.parts_size + self.segs_size

    def copy(self) -> _State:
        return _State(
            self.mpu,
            [list(p) for p in self.parts],
            [list(s) for s in self.segs],
            list(self.drop),
        )


class _S3UploadWriter(UploadWriter):
    def __init__(self, driver: S3Driver, upload_id: str, state: _State, offset: int) -> None:
        self._d = driver
        self._id = upload_id
        self._state = state
        self._base_mpu = state.mpu
        self._offset = offset
        # the part being filled: allocated once at part_size and handed to the upload
        # as is (no growth, no copies; same-size blocks keep the allocator from
        # fragmenting), then a fresh one is started
        self._part: bytearray | None = None
        self._fill = 0
        self._inflight: set[asyncio.Task[None]] = set()
        self._new_segs: list[str] = []

    @property
    def offset(self) -> int:
        return self._offset

    def _buffer(self) -> bytearray:
        if self._part is None:
            self._part = bytearray(self._d.part_size)
            self._fill = 0
        return self._part

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        part_size = self._d.part_size
        if self._state.segs and self._state.segs_size + self._fill + len(data) >= part_size:
            await self._absorb_segments()
        self._offset += len(data)
        with memoryview(data) as view:
            while view:
                buffer = self._buffer()
                n = min(len(view), part_size - self._fill)
                buffer[self._fill : self._fill + n] = view[:n]
                self._fill += n
                view = view[n:]
                if self._fill == part_size:
                    self._part, self._fill = None, 0
                    await self._start_part(buffer)

    async def _absorb_segments(self) -> None:
        """Put the persisted tail (< part_size) in front of the buffered bytes."""
        head = await self._d._read_segments(self._id, self._state.segs)
        buffer = self._buffer()
        buffer[len(head) : len(head) + self._fill] = buffer[: self._fill]
        buffer[: len(head)] = head
        self._fill += len(head)
        self._state.drop.extend(str(name) for name, _size in self._state.segs)
        self._state.segs = []

    async def _start_part(self, body: bytearray) -> None:
        while len(self._inflight) >= self._d.inflight_parts:
            done, _ = await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                self._inflight.discard(task)
                task.result()
        if self._state.mpu is None:
            self._state.mpu = await self._d._create_mpu(self._id)
        index = len(self._state.parts)
        if index >= MAX_PARTS:
            raise StorageError(f"upload {self._id} exceeds {MAX_PARTS} parts; raise part_size")
        self._state.parts.append(["", len(body)])
        mpu = self._state.mpu

        async def upload() -> None:
            etag = await self._d._upload_part(self._id, mpu, index + 1, body)
            self._state.parts[index][0] = etag

        self._inflight.add(asyncio.create_task(upload()))

    async def _drain(self) -> None:
        if self._inflight:
            tasks, self._inflight = self._inflight, set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def close(self) -> str:
        await self._drain()
        if self._fill and len(self._state.segs) >= MAX_SEGMENTS:
            await self._absorb_segments()
        if self._fill:
            assert self._part is not None
            body = bytes(self._part[: self._fill])
            name = f"seg.{self._offset - len(body)}.{secrets.token_hex(6)}"
            self._new_segs.append(name)
            await self._d._put(self._d._upload_key(self._id, name), body)
            self._state.segs.append([name, len(body)])
        self._part, self._fill = None, 0
        return self._state.dump()

    async def abort(self) -> None:
        for task in self._inflight:
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)
        self._inflight = set()
        self._part, self._fill = None, 0
        keys = [self._d._upload_key(self._id, name) for name in self._new_segs]
        with contextlib.suppress(StorageError):
            await self._d._delete_keys(keys)
            if self._base_mpu is None and self._state.mpu is not None:
                await self._d._abort_mpu(self._id, self._state.mpu)


class S3Driver(Driver):
    """Blobs in one bucket, under an optional key prefix."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint: str | None = None,
        region: str = "us-east-1",
        prefix: str = "",
        access_key: str | None = None,
        secret_key: str | None = None,
        path_style: bool = True,
        redirect: bool = False,
        redirect_expiry: int = 1200,
        part_size: int = 16 * 1024 * 1024,
        concurrency: int = 8,
        copy_limit: int = COPY_LIMIT,
    ) -> None:
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(f"storage.s3.part_size must be between 5MiB and 5GiB: {part_size}")
        self.bucket = bucket
        self.endpoint = endpoint
        self.region = region
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.access_key = access_key
        self.secret_key = secret_key
        self.path_style = path_style
        self.redirect = redirect
        self.redirect_expiry = redirect_expiry
        self.part_size = part_size
        self.concurrency = concurrency
        self.copy_limit = copy_limit
        # parts uploading at once per writer; memory per writer ~ (this + 1) * part_size
        self.inflight_parts = max(1, min(concurrency, (32 * 1024 * 1024) // part_size))
        self._pool = ThreadPoolExecutor(max_workers=concurrency * 2 + 2, thread_name_prefix="s3")
        self._client_obj: S3Client | None = None

    # --- plumbing ------------------------------------------------------------
    def _make_client(self) -> S3Client:
        session = boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )
        config = Config(
            max_pool_connections=self.concurrency * 2 + 2,
            connect_timeout=10,
            read_timeout=120,
            retries={"max_attempts": 4, "mode": "standard"},
            s3={"addressing_style": "path" if self.path_style else "virtual"},
            signature_version="s3v4",
            # many S3-compatible servers reject the newer default CRC checksums
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return session.client("s3", endpoint_url=self.endpoint, config=config)

    @property
    def _client(self) -> S3Client:
        if self._client_obj is None:
            self._client_obj = self._make_client()
        return self._client_obj

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs)
        try:
            return await loop.run_in_executor(self._pool, call)
        except BotoCoreError as exc:
            raise StorageError(f"S3 {getattr(fn, '__name__', 'call')}: {exc}") from exc

    async def _call(self, op: str, **kwargs: Any) -> Any:
        """A client method by name, in the pool; ClientErrors pass through."""
        return await self._run(getattr(self._client, op), Bucket=self.bucket, **kwargs)

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _upload_prefix(self, upload_id: str) -> str:
        return f"{self.prefix}uploads/{check_upload_id(upload_id)}/"

    def _upload_key(self, upload_id: str, name: str) -> str:
        return self._upload_prefix(upload_id) + name

    def _staging_key(self, upload_id: str) -> str:
        return self._upload_key(upload_id, "data")

    @staticmethod
    def _fail(what: str, exc: ClientError) -> StorageError:
        if _is_full(exc):
            return StorageFull(f"S3 storage is full: {what}: {_code(exc)}: {exc}")
        return StorageError(f"S3 {what}: {_code(exc)}: {exc}")

    async def _put(self, full_key: str, body: bytes) -> None:
        try:
            await self._call("put_object", Key=full_key, Body=body)
        except ClientError as exc:
            raise self._fail(f"put {full_key}", exc) from exc

    async def _get(self, full_key: str) -> bytes:
        def fetch() -> bytes:
            response = self._client.get_object(Bucket=self.bucket, Key=full_key)
            with contextlib.closing(response["Body"]) as body:
                return body.read()

        try:
            return await self._run(fetch)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise KeyNotFound(full_key[len(self.prefix) :]) from exc
            raise self._fail(f"get {full_key}", exc) from exc

    async def _head(self, full_key: str) -> KeyInfo | None:
        try:
            response = await self._call("head_object", Key=full_key)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise self._fail(f"head {full_key}", exc) from exc
        return KeyInfo(
            full_key[len(self.prefix) :],
            int(response["ContentLength"]),
            response["LastModified"].timestamp(),
        )

    async def _delete_keys(self, full_keys: list[str]) -> None:
        for start in range(0, len(full_keys), 1000):
            batch = full_keys[start : start + 1000]
            try:
                response = await self._call(
                    "delete_objects",
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            except ClientError as exc:
                raise self._fail("delete_objects", exc) from exc
            errors = response.get("Errors") or []
            if errors:
                raise StorageError(f"S3 delete_objects: {errors[0]}")

    async def _list_raw(self, full_prefix: str) -> AsyncIterator[list[dict[str, Any]]]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": full_prefix, "MaxKeys": 1000}
            if token:
                kwargs["ContinuationToken"] = token
            try:
                response = await self._call("list_objects_v2", **kwargs)
            except ClientError as exc:
                raise self._fail(f"list {full_prefix}", exc) from exc
            yield list(response.get("Contents") or [])
            if not response.get("IsTruncated"):
                return
            token = response.get("NextContinuationToken")

    async def _list_mpus(self, full_prefix: str) -> AsyncIterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Prefix": full_prefix}
        while True:
            try:
                response = await self._call("list_multipart_uploads", **kwargs)
            except ClientError as exc:
                raise self._fail("list_multipart_uploads", exc) from exc
            for upload in response.get("Uploads") or []:
                yield dict(upload)
            if not response.get("IsTruncated"):
                return
            kwargs["KeyMarker"] = response.get("NextKeyMarker", "")
            kwargs["UploadIdMarker"] = response.get("NextUploadIdMarker", "")

    # --- multipart -----------------------------------------------------------
    async def _create_mpu(self, upload_id: str) -> str:
        try:
            response = await self._call("create_multipart_upload", Key=self._staging_key(upload_id))
        except ClientError as exc:
            raise self._fail("create_multipart_upload", exc) from exc
        return str(response["UploadId"])

    async def _upload_part(
        self, upload_id: str, mpu: str, number: int, body: bytes | bytearray
    ) -> str:
        try:
            response = await self._call(
                "upload_part",
                Key=self._staging_key(upload_id),
                UploadId=mpu,
                PartNumber=number,
                Body=body,
            )
        except ClientError as exc:
            raise self._fail(f"upload_part {number} of {upload_id}", exc) from exc
        return str(response["ETag"])

    async def _abort_mpu(self, upload_id: str, mpu: str, key: str | None = None) -> None:
        try:
            await self._call(
                "abort_multipart_upload", Key=key or self._staging_key(upload_id), UploadId=mpu
            )
        except ClientError as exc:
            if _code(exc) not in ("NoSuchUpload", "404"):
                raise self._fail("abort_multipart_upload", exc) from exc

    async def _read_segments(self, upload_id: str, segs: list[list[Any]]) -> bytes:
        pieces = await asyncio.gather(
            *(self._get(self._upload_key(upload_id, str(name))) for name, _size in segs)
        )
        data = b"".join(pieces)
        if len(data) != sum(int(size) for _name, size in segs):
            raise StorageError(f"upload {upload_id}: tail segments do not match the state")
        return data

    async def _complete(self, upload_id: str, state: _State, size: int) -> str:
        """Complete the multipart upload (tail segments as the last part) at the staging
        key; idempotent, so a retried commit (or one after `read_upload`) works."""
        staging = self._staging_key(upload_id)
        assert state.mpu is not None
        parts = [list(p) for p in state.parts]
        try:
            if state.segs:
                tail = await self._read_segments(upload_id, state.segs)
                etag = await self._upload_part(upload_id, state.mpu, len(parts) + 1, tail)
                parts.append([etag, len(tail)])
            await self._call(
                "complete_multipart_upload",
                Key=staging,
                UploadId=state.mpu,
                MultipartUpload={
                    "Parts": [{"ETag": e, "PartNumber": i + 1} for i, (e, _s) in enumerate(parts)]
                },
            )
        except (ClientError, StorageError) as exc:
            info = await self._head(staging)
            if info is not None and info.size == size:
                return staging  # completed by an earlier attempt
            if isinstance(exc, ClientError):
                raise self._fail(f"complete upload {upload_id}", exc) from exc
            raise
        return staging

    async def _copy(self, source: str, target: str, size: int) -> None:
        """Server-side copy: CopyObject up to 5 GiB, UploadPartCopy ranges beyond."""
        copy_source = {"Bucket": self.bucket, "Key": source}
        if size <= self.copy_limit:
            try:
                await self._call("copy_object", Key=target, CopySource=copy_source)
            except ClientError as exc:
                raise self._fail(f"copy to {target}", exc) from exc
            return
        piece = max(self.part_size, -(-size // MAX_PARTS), 256 * 1024 * 1024)
        piece = min(piece, MAX_PART_SIZE)
        try:
            response = await self._call("create_multipart_upload", Key=target)
        except ClientError as exc:
            raise self._fail(f"copy to {target}", exc) from exc
        mpu = str(response["UploadId"])
        limit = asyncio.Semaphore(self.concurrency)

        async def copy_part(number: int, start: int) -> dict[str, Any]:
            end = min(start + piece, size) - 1
            async with limit:
                result = await self._call(
                    "upload_part_copy",
                    Key=target,
                    UploadId=mpu,
                    PartNumber=number,
                    CopySource=copy_source,
                    CopySourceRange=f"bytes={start}-{end}",
                )
            return {"ETag": result["CopyPartResult"]["ETag"], "PartNumber": number}

        try:
            parts = await asyncio.gather(
                *(copy_part(i + 1, start) for i, start in enumerate(range(0, size, piece)))
            )
            await self._call(
                "complete_multipart_upload",
                Key=target,
                UploadId=mpu,
                MultipartUpload={"Parts": list(parts)},
            )
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await self._abort_mpu("", mpu, key=target)
            if isinstance(exc, ClientError):
                raise self._fail(f"multipart copy to {target}", exc) from exc
            raise

    async def _purge_upload(self, upload_id: str, state: _State | None) -> None:
        """Abort every multipart upload and delete every object of an upload."""
        prefix = self._upload_prefix(upload_id)
        aborted = set()
        if state is not None and state.mpu is not None:
            await self._abort_mpu(upload_id, state.mpu)
            aborted.add(state.mpu)
        async for upload in self._list_mpus(prefix):  # e.g. left by a crashed writer
            if upload["UploadId"] not in aborted:
                await self._abort_mpu(upload_id, str(upload["UploadId"]), key=upload["Key"])
        keys: list[str] = []
        async for page in self._list_raw(prefix):
            keys.extend(str(obj["Key"]) for obj in page)
        await self._delete_keys(keys)

    # --- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        where = self.endpoint or f"AWS region {self.region}"
        try:
            await self._run(lambda: self._client)
            await self._call("head_bucket")
        except NoCredentialsError as exc:
            raise StorageError(
                "storage.s3: no credentials (set storage.s3.access_key/secret_key or the "
                "standard AWS variables)"
            ) from exc
        except ClientError as exc:
            code = _code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                message = f"storage.s3.bucket: bucket {self.bucket!r} does not exist at {where}"
            elif code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                message = (
                    f"storage.s3: access to bucket {self.bucket!r} at {where} denied ({code}); "
                    "check storage.s3.access_key/secret_key"
                )
            else:
                message = f"storage.s3: bucket {self.bucket!r} at {where} unusable: {code} {exc}"
            raise StorageError(message) from exc
        except StorageError as exc:
            raise StorageError(f"storage.s3: cannot reach {where}: {exc}") from exc

    async def close(self) -> None:
        client, self._client_obj = self._client_obj, None
        if client is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, client.close)
        self._pool.shutdown(wait=False)

    # --- uploads -------------------------------------------------------------
    async def create_upload(self, upload_id: str) -> str:
        check_upload_id(upload_id)
        return _State().dump()  # nothing in the bucket until the first byte

    async def open_upload(self, upload_id: str, state: str, offset: int) -> UploadWriter:
        check_upload_id(upload_id)
        st = _State.load(state)
        if st.size != offset:
            raise StorageError(
                f"upload {upload_id}: state holds {st.size} bytes, session offset is {offset}"
            )
        if st.drop:  # this state was persisted: what it superseded is garbage now
            keys = [self._upload_key(upload_id, name) for name in st.drop]
            with contextlib.suppress(StorageError):
                await self._delete_keys(keys)
            st.drop = []
        return _S3UploadWriter(self, upload_id, st, offset)

    async def commit_upload(self, upload_id: str, state: str, size: int, key: str) -> None:
        target = self._full(key)
        st = _State.load(state)
        if st.size != size:
            raise StorageError(f"upload {upload_id}: state holds {st.size} bytes, not {size}")
        if await self._head(target) is None:
            if st.parts:
                staging = await self._complete(upload_id, st, size)
                await self._copy(staging, target, size)
            elif len(st.segs) == 1:
                source = self._upload_key(upload_id, str(st.segs[0][0]))
                await self._copy(source, target, size)
            else:  # empty, or a few small segments (< part_size together)
                await self._put(target, await self._read_segments(upload_id, st.segs))
        await self._purge_upload(upload_id, st)

    async def delete_upload(self, upload_id: str, state: str) -> None:
        try:
            st: _State | None = _State.load(state)
        except StorageError:
            st = None
        await self._purge_upload(upload_id, st)

    async def read_upload(self, upload_id: str, state: str, length: int) -> AsyncIterator[bytes]:
        st = _State.load(state)
        if st.parts:
            # parts of an open multipart upload can't be read: complete it first
            # (commit_upload later recognises the completed staging object)
            staging = await self._complete(upload_id, st, st.size)
            async for chunk in self._read_full(staging, 0, length):
                yield chunk
            return
        remaining = length
        for name, _size in st.segs:
            if remaining <= 0:
                return
            data = await self._get(self._upload_key(upload_id, str(name)))
            yield data[:remaining]
            remaining -= len(data)

    async def list_uploads(self) -> AsyncIterator[KeyInfo]:
        base = f"{self.prefix}uploads/"
        found: dict[str, list[float]] = {}
        async for page in self._list_raw(base):
            for obj in page:
                upload_id = str(obj["Key"])[len(base) :].split("/", 1)[0]
                entry = found.setdefault(upload_id, [0, 0.0])
                entry[0] += int(obj["Size"])
                entry[1] = max(entry[1], obj["LastModified"].timestamp())
        async for upload in self._list_mpus(base):
            upload_id = str(upload["Key"])[len(base) :].split("/", 1)[0]
            entry = found.setdefault(upload_id, [0, 0.0])
            entry[1] = max(entry[1], upload["Initiated"].timestamp())
        for upload_id, (size, mtime) in found.items():
            yield KeyInfo(upload_id, int(size), mtime)

    # --- objects -------------------------------------------------------------
    async def stat(self, key: str) -> KeyInfo | None:
        return await self._head(self._full(key))

    async def get_bytes(self, key: str) -> bytes:
        return await self._get(self._full(key))

    async def put_bytes(self, key: str, data: bytes) -> None:
        await self._put(self._full(key), data)

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self._read_full(self._full(key), offset, length)

    async def _read_full(
        self, full_key: str, offset: int, length: int | None
    ) -> AsyncIterator[bytes]:
        if length == 0:
            if await self._head(full_key) is None:
                raise KeyNotFound(full_key[len(self.prefix) :])
            return
        kwargs: dict[str, Any] = {"Key": full_key}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            kwargs["Range"] = f"bytes={offset}-{end}"
        try:
            response = await self._call("get_object", **kwargs)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise KeyNotFound(full_key[len(self.prefix) :]) from exc
            if _code(exc) == "InvalidRange":  # offset at or past the end
                return
            raise self._fail(f"get {full_key}", exc) from exc
        body = response["Body"]
        try:
            while True:
                chunk = await self._run(body.read, READ_CHUNK)
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    async def redirect_url(self, key: str, method: str = "GET") -> str | None:
        if not self.redirect:
            return None
        operation = {"GET": "get_object", "HEAD": "head_object"}.get(method.upper())
        if operation is None:
            return None
        return await self._run(
            self._client.generate_presigned_url,
            operation,
            Params={"Bucket": self.bucket, "Key": self._full(key)},
            ExpiresIn=self.redirect_expiry,
        )

    async def delete(self, key: str) -> bool:
        full = self._full(key)
        if await self._head(full) is None:
            return False
        try:
            await self._call("delete_object", Key=full)
        except ClientError as exc:
            raise self._fail(f"delete {full}", exc) from exc
        return True

    async def list(self, prefix: str) -> AsyncIterator[KeyInfo]:
        full_prefix = self._full(prefix) + "/" if prefix else self.prefix
        async for page in self._list_raw(full_prefix):
            for obj in page:
                yield KeyInfo(
                    str(obj["Key"])[len(self.prefix) :],
                    int(obj["Size"]),
                    obj["LastModified"].timestamp(),
                )
