"""The OCI distribution API of one remote registry.

``RegistryClient`` speaks to one endpoint (``async with RegistryClient(endpoint) as c``):
ping, catalog and tag lists (following ``Link`` pages), manifests and indexes of every
media type Wharf accepts (digests checked on the way in and out), blobs streamed in
chunks, pushed monolithically or in chunks, skipped when the remote already has them
(HEAD) and mounted from another repository of the remote when it allows, and referrers —
the referrers API, or the tag schema (``sha256-<hex>`` indexes) where the remote has none,
read and written.

``copy_blob`` streams a blob from one remote to another without holding it: the
destination gets what the source sends, hashed on the way, so a blob whose bytes are not
its digest never lands.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode, urljoin

import aiohttp
import orjson

from wharf.registry.oci.manifests import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
)
from wharf.replication.client.auth import AuthFailed
from wharf.replication.client.blobs import (
    BlobSource,
    DigestMismatch,
    Verifier,
    algorithm_of,
    digest_bytes,
)
from wharf.replication.client.endpoint import Endpoint, Referrers
from wharf.replication.client.transport import (
    ClientOptions,
    NotFound,
    RegistryUnreachable,
    RemoteError,
    Reply,
    Transport,
)

log = logging.getLogger("wharf.replication.client")

# Every manifest media type Wharf stores, most specific first (what we ask remotes for).
MANIFEST_ACCEPT = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
MAX_MANIFEST = 16 * 1024 * 1024
DEFAULT_PAGE = 100
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class BadManifest(Exception):
    """A manifest a remote served that is not one (not JSON, unknown type, too large)."""


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class Manifest:
    media_type: str
    body: bytes
    digest: str

    @classmethod
    def of(cls, body: bytes, media_type: str | None = None) -> Manifest:
        """A manifest from its bytes: media type from the body when not given."""
        doc = _json_object(body)
        kind = media_type or doc.get("mediaType")
        if not isinstance(kind, str) or not kind:
            kind = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
        return cls(kind, body, digest_bytes(body))

    @property
    def document(self) -> dict[str, Any]:
        return _json_object(self.body)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.body))

    def blobs(self) -> list[Descriptor]:
        """Config and layers of an image manifest (nothing for an index); layers that
        are not distributable (with ``urls``) left out."""
        if self.is_index:
            return []
        doc = self.document
        found = [_descriptor(doc.get("config"))]
        for layer in doc.get("layers") or []:
            if isinstance(layer, dict) and layer.get("urls"):
                continue
            found.append(_descriptor(layer))
        return found

    def children(self) -> list[Descriptor]:
        """The manifests an index lists (nothing for an image)."""
        if not self.is_index:
            return []
        return [_descriptor(entry) for entry in self.document.get("manifests") or []]

    @property
    def subject(self) -> Descriptor | None:
        subject = self.document.get("subject")
        return _descriptor(subject) if subject is not None else None

    @property
    def artifact_type(self) -> str | None:
        doc = self.document
        kind = doc.get("artifactType")
        if isinstance(kind, str):
            return str(kind)
        config = doc.get("config")
        if isinstance(config, dict) and isinstance(config.get("mediaType"), str):
            return str(config["mediaType"])
        return None


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str
    subject_acknowledged: bool  # the remote answered OCI-Subject: it indexes referrers itself


class BlobOutcome(Enum):
    EXISTED = "existed"  # the remote had it in that repository (HEAD)
    MOUNTED = "mounted"  # mounted from another repository of the remote
    UPLOADED = "uploaded"


@dataclass(frozen=True, slots=True)
class Ping:
    api_version: str | None  # Docker-Distribution-API-Version
    auth_scheme: str | None  # "bearer", "basic", or None (anonymous, no challenge)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadManifest("not JSON") from None
    if not isinstance(doc, dict):
        raise BadManifest("not a JSON object")
    return doc


def _descriptor(value: object) -> Descriptor:
    if not isinstance(value, dict):
        raise BadManifest("a descriptor is not an object")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(digest, str) or not isinstance(size, int) or isinstance(size, bool):
        raise BadManifest("a descriptor lacks its digest or size")
    return Descriptor(media_type if isinstance(media_type, str) else "", digest, size)


def referrers_tag(digest: str) -> str:
    """The tag schema's tag for the referrers of ``digest``: ``<alg>-<hex>``."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}-{encoded}"[:128]


def next_link(reply: Reply) -> str | None:
    for value in reply.headers.getall("Link", []):
        match = _NEXT.search(value)
        if match:
            return urljoin(reply.url, str(match.group(1)))
    return None


def _with_query(location: str, **params: str) -> str:
    return location + ("&" if "?" in location else "?") + urlencode(params, quote_via=quote)


def pull(repo: str) -> str:
    return f"repository:{repo}:pull"


def push(repo: str) -> str:
    return f"repository:{repo}:pull,push"


class RegistryClient:
    def __init__(self, endpoint: Endpoint, options: ClientOptions | None = None) -> None:
        self.endpoint = endpoint
        self.options = options or ClientOptions()
        self.transport = Transport(endpoint, self.options)
        self._referrers_api: bool | None = None  # learnt: does the remote serve it

    async def __aenter__(self) -> RegistryClient:
        await self.transport.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()

    def _name(self, repo: str) -> str:
        return self.endpoint.repository(repo)

    # --- the registry ----------------------------------------------------------
    async def ping(self) -> Ping:
        """``GET /v2/`` with the configured credential (through the token service when the
        remote asks for tokens): the remote speaks the API and takes the credential.
        Raises ``RegistryUnreachable``, ``AuthFailed``, ``RemoteError``."""
        reply = await self.transport.request("GET", "/v2/")
        challenge = self.transport.auth.challenge
        return Ping(
            reply.headers.get("Docker-Distribution-API-Version"),
            challenge.scheme if challenge is not None else None,
        )

    async def catalog(self, page_size: int = DEFAULT_PAGE) -> AsyncIterator[str]:
        """Every repository the remote lists, page by page."""
        path: str | None = f"/v2/_catalog?n={page_size}"
        while path is not None:
            reply = await self.transport.request("GET", path, scopes=["registry:catalog:*"])
            doc = reply.json()
            for name in (doc or {}).get("repositories") or []:
                if isinstance(name, str):
                    yield name
            path = next_link(reply)

    async def tags(self, repo: str, page_size: int = DEFAULT_PAGE) -> AsyncIterator[str]:
        """Every tag of ``repo`` (none when the repository is unknown)."""
        name = self._name(repo)
        path: str | None = f"/v2/{name}/tags/list?n={page_size}"
        while path is not None:
            try:
                reply = await self.transport.request("GET", path, scopes=[pull(name)])
            except NotFound:
                return
            doc = reply.json()
            for tag in (doc or {}).get("tags") or []:
                if isinstance(tag, str):
                    yield tag
            path = next_link(reply)

    # --- manifests ---------------------------------------------------------------
    async def manifest(self, repo: str, reference: str) -> Manifest:
        """The manifest or index at a tag or digest, its digest checked (``NotFound``)."""
        name = self._name(repo)
        reply = await self.transport.request(
            "GET",
            f"/v2/{name}/manifests/{reference}",
            scopes=[pull(name)],
            headers={"Accept": ", ".join(MANIFEST_ACCEPT)},
        )
        if len(reply.body) > MAX_MANIFEST:
            raise BadManifest(f"{repo}:{reference}: a manifest of {len(reply.body)} bytes")
        media_type = (reply.headers.get("Content-Type") or "").split(";")[0].strip()
        if media_type not in MANIFEST_ACCEPT:
            media_type = ""
        manifest = Manifest.of(reply.body, media_type or None)
        expected = reference if ":" in reference else reply.headers.get("Docker-Content-Digest")
        if expected:
            got = digest_bytes(reply.body, algorithm_of(expected))
            if got != expected:
                raise DigestMismatch(f"{repo}:{reference}: manifest is {got}, not {expected}")
            if expected.startswith("sha256:"):
                manifest = Manifest(manifest.media_type, manifest.body, expected)
        return manifest

    async def manifest_descriptor(self, repo: str, reference: str) -> Descriptor | None:
        """``HEAD`` of a manifest: its descriptor, or None when absent."""
        name = self._name(repo)
        try:
            reply = await self.transport.request(
                "HEAD",
                f"/v2/{name}/manifests/{reference}",
                scopes=[pull(name)],
                headers={"Accept": ", ".join(MANIFEST_ACCEPT)},
            )
        except NotFound:
            return None
        digest = reply.headers.get("Docker-Content-Digest") or (
            reference if ":" in reference else ""
        )
        if not digest:  # a remote that does not say: the body tells
            return (await self.manifest(repo, reference)).descriptor
        size = int(reply.headers.get("Content-Length") or 0)
        media_type = (reply.headers.get("Content-Type") or "").split(";")[0].strip()
        return Descriptor(media_type, digest, size)

    async def put_manifest(
        self, repo: str, reference: str, manifest: Manifest, *, index_referrer: bool = True
    ) -> PushedManifest:
        """PUT a manifest at a tag or its digest. A manifest with a ``subject`` pushed to a
        remote that does not acknowledge it (no ``OCI-Subject``) is added to the tag
        schema's referrers index of that subject too (unless ``index_referrer`` is off)."""
        name = self._name(repo)
        reply = await self.transport.request(
            "PUT",
            f"/v2/{name}/manifests/{reference}",
            scopes=[push(name)],
            headers={"Content-Type": manifest.media_type},
            body=manifest.body,
            ok=(201, 200),
        )
        said = reply.headers.get("Docker-Content-Digest")
        if said and said.startswith("sha256:") and said != manifest.digest:
            raise DigestMismatch(f"{repo}: the remote stored {said}, we sent {manifest.digest}")
        acknowledged = "OCI-Subject" in reply.headers
        subject = manifest.subject
        if subject is not None and not acknowledged and index_referrer:
            await self.add_referrer_to_tag_schema(repo, subject.digest, manifest)
        return PushedManifest(manifest.digest, acknowledged)

    async def delete_manifest(self, repo: str, reference: str) -> bool:
        """DELETE a manifest (by digest) or a tag; False when it was not there."""
        name = self._name(repo)
        try:
            await self.transport.request(
                "DELETE",
                f"/v2/{name}/manifests/{reference}",
                scopes=[f"repository:{name}:delete", push(name)],
                ok=(202, 200, 204),
            )
        except NotFound:
            return False
        return True

    # --- referrers ---------------------------------------------------------------
    async def referrers(
        self, repo: str, digest: str, artifact_type: str | None = None
    ) -> list[dict[str, Any]]:
        """The descriptors of the manifests whose ``subject`` is ``digest``."""
        mode = self.endpoint.kind.referrers
        if mode is not Referrers.TAG_SCHEMA and self._referrers_api is not False:
            found = await self._referrers_api_list(repo, digest, artifact_type)
            if found is not None:
                return found
            if mode is Referrers.API:
                return []
        return await self._referrers_tag_list(repo, digest, artifact_type)

    async def _referrers_api_list(
        self, repo: str, digest: str, artifact_type: str | None
    ) -> list[dict[str, Any]] | None:
        name = self._name(repo)
        path: str | None = f"/v2/{name}/referrers/{digest}"
        if artifact_type:
            path = _with_query(path or "", artifactType=artifact_type)
        found: list[dict[str, Any]] = []
        while path is not None:
            try:
                reply = await self.transport.request(
                    "GET", path, scopes=[pull(name)], headers={"Accept": OCI_INDEX}
                )
            except RemoteError as exc:
                if exc.status in (404, 400, 405, 501):
                    self._referrers_api = False
                    return None
                raise
            self._referrers_api = True
            index = Manifest.of(reply.body, OCI_INDEX)
            entries = index.document.get("manifests") or []
            found.extend(e for e in entries if isinstance(e, dict))
            path = next_link(reply)
        if artifact_type:  # a remote that ignored the filter
            found = [e for e in found if e.get("artifactType") == artifact_type]
        return found

    async def _referrers_tag_list(
        self, repo: str, digest: str, artifact_type: str | None
    ) -> list[dict[str, Any]]:
        try:
            index = await self.manifest(repo, referrers_tag(digest))
        except NotFound:
            return []
        entries = [e for e in index.document.get("manifests") or [] if isinstance(e, dict)]
        if artifact_type:
            entries = [e for e in entries if e.get("artifactType") == artifact_type]
        return entries

    async def add_referrer_to_tag_schema(
        self, repo: str, subject: str, referrer: Manifest, attempts: int = 3
    ) -> None:
        """Add ``referrer`` to the index tagged ``<alg>-<hex>`` of ``subject`` (the spec's
        fallback for remotes without the referrers API), checking afterwards that a
        concurrent writer did not drop it."""
        entry: dict[str, Any] = {
            "mediaType": referrer.media_type,
            "digest": referrer.digest,
            "size": len(referrer.body),
        }
        if referrer.artifact_type:
            entry["artifactType"] = referrer.artifact_type
        annotations = referrer.document.get("annotations")
        if isinstance(annotations, dict) and annotations:
            entry["annotations"] = annotations
        tag = referrers_tag(subject)
        for _ in range(attempts):
            current = await self._referrers_tag_list(repo, subject, None)
            if any(e.get("digest") == referrer.digest for e in current):
                return
            index = {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [*current, entry],
            }
            body = orjson.dumps(index)
            await self.put_manifest(repo, tag, Manifest(OCI_INDEX, body, digest_bytes(body)))
        current = await self._referrers_tag_list(repo, subject, None)
        if not any(e.get("digest") == referrer.digest for e in current):
            raise RemoteError("PUT", tag, 409, "CONFLICT", "the referrers index kept changing")

    # --- blobs -------------------------------------------------------------------
    async def blob_size(self, repo: str, digest: str) -> int | None:
        """``HEAD`` of a blob in ``repo``: its size, or None when the remote lacks it."""
        name = self._name(repo)
        try:
            reply = await self.transport.request(
                "HEAD", f"/v2/{name}/blobs/{digest}", scopes=[pull(name)]
            )
        except NotFound:
            return None
        return int(reply.headers.get("Content-Length") or 0)

    @asynccontextmanager
    async def blob(self, repo: str, digest: str, offset: int = 0) -> AsyncIterator[BlobStream]:
        """The blob's bytes from ``offset`` on, as a stream of chunks."""
        name = self._name(repo)
        headers = {"Range": f"bytes={offset}-"} if offset else None
        async with self.transport.stream(
            "GET",
            f"/v2/{name}/blobs/{digest}",
            scopes=[pull(name)],
            headers=headers,
            ok=(200, 206),
        ) as response:
            skip = offset if response.status == 200 else 0  # a remote that ignored Range
            yield BlobStream(response, skip, self.options.read_chunk)

    def blob_source(self, repo: str, digest: str, size: int) -> RemoteBlob:
        return RemoteBlob(self, repo, digest, size)

    async def push_blob(
        self,
        repo: str,
        digest: str,
        source: BlobSource,
        *,
        chunk_size: int | None = None,
        mount_from: Iterable[str] = (),
    ) -> BlobOutcome:
        """Make ``repo`` hold the blob: nothing when it has it (HEAD), a mount from one of
        ``mount_from`` (repositories of this remote known to hold it) when the remote
        allows, else an upload — monolithic, or in ``chunk_size`` pieces — streamed from
        ``source`` and checked against ``digest``. A failed upload starts again (a chunked
        one from the last piece the remote confirmed), up to the retry policy's attempts."""
        name = self._name(repo)
        algorithm_of(digest)  # one we can verify
        if await self.blob_size(repo, digest) is not None:
            return BlobOutcome.EXISTED
        location: str | None = None
        if self.endpoint.kind.mount:
            for other in mount_from:
                if other == repo:
                    continue
                location = await self._mount(name, digest, self._name(other))
                if location is None:
                    return BlobOutcome.MOUNTED
                break  # the remote opened an upload instead: use it
        retry = self.options.retry
        attempt = 0
        while True:
            attempt += 1
            try:
                if location is None:
                    location = await self._start_upload(name)
                if chunk_size:
                    await self._upload_chunks(name, location, digest, source, chunk_size)
                else:
                    await self._upload_whole(name, location, digest, source)
                return BlobOutcome.UPLOADED
            except DigestMismatch:
                await self._cancel(name, location)
                raise
            except (RegistryUnreachable, RemoteError, aiohttp.ClientError, TimeoutError) as exc:
                if isinstance(exc, RemoteError) and exc.status not in retry.statuses:
                    raise
                if attempt >= retry.attempts:
                    raise
                log.info(
                    "blob upload failed; starting it again",
                    extra={"repo": repo, "digest": digest, "error": str(exc), "attempt": attempt},
                )
                location = None
                await asyncio.sleep(retry.delay(attempt, None))

    async def _mount(self, name: str, digest: str, source: str) -> str | None:
        """POST ?mount=&from=: None when mounted (201), else the upload it opened (202)."""
        reply = await self.transport.request(
            "POST",
            _with_query(f"/v2/{name}/blobs/uploads/", mount=digest, **{"from": source}),
            scopes=[push(name), pull(source)],
            body=b"",
            ok=(201, 202),
        )
        if reply.status == 201:
            return None
        return self._location(reply)

    async def _start_upload(self, name: str) -> str:
        reply = await self.transport.request(
            "POST", f"/v2/{name}/blobs/uploads/", scopes=[push(name)], body=b"", ok=(202,)
        )
        return self._location(reply)

    def _location(self, reply: Reply) -> str:
        location = reply.headers.get("Location")
        if not location:
            raise RemoteError("POST", reply.url, reply.status, "UNKNOWN", "no Location header")
        return urljoin(reply.url, location)

    async def _upload_whole(
        self, name: str, location: str, digest: str, source: BlobSource
    ) -> None:
        verifier = Verifier(digest, source.size)
        try:
            async with source.open(0) as chunks:
                body = _verified(chunks, verifier)
                async with self.transport.stream(
                    "PUT",
                    _with_query(location, digest=digest),
                    scopes=[push(name)],
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(source.size),
                    },
                    body=body,
                    ok=(201, 204),
                ):
                    pass
        except (RegistryUnreachable, RemoteError, aiohttp.ClientError) as exc:
            if verifier.error is not None:
                raise verifier.error from exc
            raise
        verifier.check()

    async def _upload_chunks(
        self, name: str, location: str, digest: str, source: BlobSource, chunk_size: int
    ) -> None:
        size = source.size
        offset = 0
        verifier = Verifier(digest, size)
        checkpoint = (location, 0, verifier.copy())
        resumes = 0
        reader: _Pieces | None = None
        while offset < size:
            try:
                async with source.open(offset) as chunks:
                    reader = _Pieces(chunks)
                    while offset < size:
                        length = min(chunk_size, size - offset)
                        async with self.transport.stream(
                            "PATCH",
                            location,
                            scopes=[push(name)],
                            headers={
                                "Content-Type": "application/octet-stream",
                                "Content-Length": str(length),
                                "Content-Range": f"{offset}-{offset + length - 1}",
                            },
                            body=_verified(reader.take(length), verifier),
                            ok=(202, 204),
                        ) as response:
                            next_location = response.headers.get("Location")
                        if next_location:
                            location = urljoin(location, next_location)
                        offset += length
                        checkpoint = (location, offset, verifier.copy())
            except (RegistryUnreachable, RemoteError, aiohttp.ClientError, TimeoutError) as exc:
                if verifier.error is not None:
                    raise verifier.error from exc
                if reader is not None and reader.error is not None:
                    raise reader.error from exc
                # resume where the remote says it got to, when that is our last checkpoint
                resumes += 1
                if resumes >= self.options.retry.attempts:
                    raise
                resumed = await self._upload_offset(name, checkpoint[0])
                if resumed != checkpoint[1]:
                    raise
                location, offset, saved = checkpoint
                verifier = saved.copy()
                log.info("chunked upload resumed", extra={"digest": digest, "offset": offset})
        verifier.check()
        await self.transport.request(
            "PUT",
            _with_query(location, digest=digest),
            scopes=[push(name)],
            headers={"Content-Type": "application/octet-stream"},
            body=b"",
            ok=(201, 204),
        )

    async def _upload_offset(self, name: str, location: str) -> int | None:
        """Where an upload stands (the end of its ``Range``), None when unknown."""
        try:
            reply = await self.transport.request(
                "GET", location, scopes=[push(name)], ok=(204, 200)
            )
        except (RemoteError, RegistryUnreachable, AuthFailed):
            return None
        match = re.match(r"^(?:bytes=)?0-(\d+)$", reply.headers.get("Range", ""))
        if match is None:
            return 0 if "Range" not in reply.headers else None
        return int(match.group(1)) + 1

    async def _cancel(self, name: str, location: str | None) -> None:
        if location is None:
            return
        try:
            await self.transport.request(
                "DELETE", location, scopes=[push(name)], ok=(204, 200, 202, 404)
            )
        except (RemoteError, RegistryUnreachable, AuthFailed) as exc:
            log.info("cannot cancel an upload", extra={"location": location, "error": str(exc)})


class BlobStream:
    """A blob download: ``size`` (of what follows) and ``chunks()``."""

    def __init__(self, response: aiohttp.ClientResponse, skip: int, chunk: int) -> None:
        self.response = response
        self._skip = skip
        self._chunk = chunk
        length = response.content_length
        self.size = None if length is None else length - skip

    async def chunks(self) -> AsyncIterator[bytes]:
        skip = self._skip
        async for data in self.response.content.iter_chunked(self._chunk):
            if skip:
                if len(data) <= skip:
                    skip -= len(data)
                    continue
                data, skip = data[skip:], 0
            yield data


class RemoteBlob:
    """A blob of a remote as the source of a push (to another remote, or a local store)."""

    def __init__(self, client: RegistryClient, repo: str, digest: str, size: int) -> None:
        self.client = client
        self.repo = repo
        self.digest = digest
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    @asynccontextmanager
    async def open(self, offset: int) -> AsyncIterator[AsyncIterator[bytes]]:
        async with self.client.blob(self.repo, self.digest, offset) as stream:
            yield stream.chunks()


class _Pieces:
    """Bounded pieces of one stream of chunks (the PATCH bodies of a chunked upload)."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""
        self.error: DigestMismatch | None = None

    async def take(self, length: int) -> AsyncIterator[bytes]:
        while length > 0:
            if not self._left:
                try:
                    self._left = await anext(self._chunks)
                except StopAsyncIteration:
                    self.error = DigestMismatch("the source ended before its announced size")
                    raise self.error from None
            piece, self._left = self._left[:length], self._left[length:]
            length -= len(piece)
            yield piece


async def _verified(chunks: AsyncIterator[bytes], verifier: Verifier) -> AsyncIterator[bytes]:
    """The chunks, hashed on the way; the last one is held back if the digest is wrong
    (so the remote never receives a complete wrong blob)."""
    async for chunk in chunks:
        verifier.update(chunk)
        if verifier.size is not None and verifier.count == verifier.size:
            verifier.check()
        yield chunk


async def copy_blob(
    source: RegistryClient,
    source_repo: str,
    destination: RegistryClient,
    destination_repo: str,
    blob: Descriptor,
    *,
    chunk_size: int | None = None,
    mount_from: Iterable[str] = (),
) -> BlobOutcome:
    """Copy one blob between remotes, streamed (see ``RegistryClient.push_blob``)."""
    return await destination.push_blob(
        destination_repo,
        blob.digest,
        source.blob_source(source_repo, blob.digest, blob.size),
        chunk_size=chunk_size,
        mount_from=mount_from,
    )
