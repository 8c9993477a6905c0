"""The two ends of a replication, behind one interface: this registry (its content core:
reads without pull events, writes through the policy gate with events, as any push) and a
remote one (the outbound client). The copier moves artifacts between any two ``Side``s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import orjson

from wharf.registry.content.service import ContentService
from wharf.registry.events import Actor
from wharf.registry.oci.errors import RegistryError
from wharf.registry.oci.names import Digest, parse_digest
from wharf.replication.client.blobs import BlobSource
from wharf.replication.client.client import BlobOutcome, Manifest, RegistryClient
from wharf.replication.client.transport import NotFound


class Side(Protocol):
    """One end of a replication."""

    @property
    def label(self) -> str:
        """For log lines: ``local`` or the remote registry's name."""

    @property
    def can_list(self) -> bool:
        """Whether ``repositories`` works (Docker Hub has no catalog)."""

    async def repositories(self) -> list[str]: ...

    async def tags(self, repo: str) -> list[str]: ...

    async def manifest(self, repo: str, reference: str) -> Manifest | None: ...

    async def manifest_digest(self, repo: str, reference: str) -> str | None: ...

    async def put_manifest(self, repo: str, reference: str, manifest: Manifest) -> None: ...

    async def blob_size(self, repo: str, digest: str) -> int | None: ...

    def blob_source(self, repo: str, digest: str, size: int) -> BlobSource: ...

    async def push_blob(self, repo: str, digest: str, source: BlobSource) -> BlobOutcome: ...

    async def referrers(self, repo: str, digest: str) -> list[dict[str, Any]]: ...


def _reference(reference: str) -> str | Digest:
    return parse_digest(reference) if ":" in reference else reference


class LocalSide:
    """This registry, through its content core, acting as ``actor``."""

    label = "local"
    can_list = True

    def __init__(self, content: ContentService, actor: Actor) -> None:
        self.content = content
        self.actor = actor

    async def repositories(self) -> list[str]:
        return await self.content.listing.catalog(None, None, lambda _name: True)

    async def tags(self, repo: str) -> list[str]:
        try:
            return await self.content.listing.tags(repo, None, None)
        except RegistryError:
            return []

    async def manifest(self, repo: str, reference: str) -> Manifest | None:
        try:
            stored = await self.content.manifests.get(
                repo, _reference(reference), self.actor, pull=False
            )
        except RegistryError:
            return None
        return Manifest(stored.record.media_type, stored.content, stored.record.digest)

    async def manifest_digest(self, repo: str, reference: str) -> str | None:
        try:
            return (await self.content.manifests.find(repo, _reference(reference))).digest
        except RegistryError:
            return None

    async def put_manifest(self, repo: str, reference: str, manifest: Manifest) -> None:
        await self.content.manifests.put(
            repo, _reference(reference), manifest.body, manifest.media_type, self.actor
        )

    async def blob_size(self, repo: str, digest: str) -> int | None:
        try:
            return (await self.content.blobs.get(repo, parse_digest(digest))).size
        except RegistryError:
            return None

    def blob_source(self, repo: str, digest: str, size: int) -> BlobSource:
        return LocalBlob(self.content, parse_digest(digest), size)

    async def push_blob(self, repo: str, digest: str, source: BlobSource) -> BlobOutcome:
        parsed = parse_digest(digest)
        if await self.blob_size(repo, digest) is not None:
            return BlobOutcome.EXISTED
        # stored here already for another repository: linked, not fetched again
        if await self.content.blobs.mount(repo, parsed, None, lambda _name: True, self.actor):
            return BlobOutcome.MOUNTED
        async with source.open(0) as chunks:
            await self.content.uploads.whole(repo, parsed, _bytes(chunks), self.actor)
        return BlobOutcome.UPLOADED

    async def referrers(self, repo: str, digest: str) -> list[dict[str, Any]]:
        index = orjson.loads(await self.content.listing.referrers(repo, parse_digest(digest), None))
        return [e for e in index.get("manifests") or [] if isinstance(e, dict)]


async def _bytes(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes | bytearray]:
    async for chunk in chunks:
        yield chunk


class LocalBlob:
    """A blob of this registry's storage as the source of a push."""

    def __init__(self, content: ContentService, digest: Digest, size: int) -> None:
        self.content = content
        self.digest = digest
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    @asynccontextmanager
    async def open(self, offset: int) -> AsyncIterator[AsyncIterator[bytes]]:
        yield self.content.blobs.read(self.digest, offset, self._size - offset)


class RemoteSide:
    """A remote registry, through the outbound client."""

    def __init__(
        self, client: RegistryClient, label: str, *, chunk_size: int | None = None
    ) -> None:
        self.client = client
        self._label = label
        self.chunk_size = chunk_size

    @property
    def label(self) -> str:
        return self._label

    @property
    def can_list(self) -> bool:
        return self.client.endpoint.kind.catalog

    async def repositories(self) -> list[str]:
        return [name async for name in self.client.catalog()]

    async def tags(self, repo: str) -> list[str]:
        return [tag async for tag in self.client.tags(repo)]

    async def manifest(self, repo: str, reference: str) -> Manifest | None:
        try:
            return await self.client.manifest(repo, reference)
        except NotFound:
            return None

    async def manifest_digest(self, repo: str, reference: str) -> str | None:
        found = await self.client.manifest_descriptor(repo, reference)
        return None if found is None else found.digest

    async def put_manifest(self, repo: str, reference: str, manifest: Manifest) -> None:
        await self.client.put_manifest(repo, reference, manifest)

    async def blob_size(self, repo: str, digest: str) -> int | None:
        return await self.client.blob_size(repo, digest)

    def blob_source(self, repo: str, digest: str, size: int) -> BlobSource:
        return self.client.blob_source(repo, digest, size)

    async def push_blob(self, repo: str, digest: str, source: BlobSource) -> BlobOutcome:
        return await self.client.push_blob(repo, digest, source, chunk_size=self.chunk_size)

    async def referrers(self, repo: str, digest: str) -> list[dict[str, Any]]:
        return await self.client.referrers(repo, digest)
