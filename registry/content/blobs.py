"""Blobs: existence and size in a repository, reading, mounting, unlinking."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from wharf.registry.content.gatekeeping import abandon, ask
from wharf.registry.events import Actor, BlobMounted, BlobUnlinked, EventBus
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.oci.errors import BLOB_UNKNOWN, RegistryError
from wharf.registry.oci.names import Digest
from wharf.registry.policy.gate import Deletion, PolicyGate, UploadCommit
from wharf.storage.base import Driver


@dataclass(frozen=True, slots=True)
class BlobHandle:
    digest: Digest
    size: int
    local_path: Path | None
    redirect_url: str | None


class Blobs:
    def __init__(
        self, store: MetadataStore, driver: Driver, gate: PolicyGate, events: EventBus
    ) -> None:
        self.store = store
        self.driver = driver
        self.gate = gate
        self.events = events

    async def get(self, repo: str, digest: Digest) -> BlobHandle:
        size = await self.store.repo_blob_size(repo, str(digest))
        if size is None:
            raise RegistryError(BLOB_UNKNOWN, {"digest": str(digest)})
        path = self.driver.local_path(digest.key)
        redirect = None if path is not None else await self.driver.redirect_url(digest.key)
        return BlobHandle(digest, size, path, redirect)

    def read(self, digest: Digest, offset: int, length: int) -> AsyncIterator[bytes]:
        return self.driver.read(digest.key, offset, length)

    async def unlink(self, repo: str, digest: Digest, actor: Actor) -> None:
        await ask(self.gate, Deletion(actor, "blob", repo, str(digest)))
        if not await self.store.unlink_blob(repo, str(digest)):
            raise RegistryError(BLOB_UNKNOWN, {"digest": str(digest)})
        await self.events.publish(BlobUnlinked(actor, repo, str(digest)))

    async def mount(
        self,
        repo: str,
        digest: Digest,
        source: str | None,
        readable: Callable[[str], bool],
        actor: Actor,
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
        info = await self.driver.stat(digest.key)
        if info is None:
            return False  # metadata without content: let the client upload again
        commit = UploadCommit(actor, repo, key, info.size)
        await ask(self.gate, commit)
        try:
            linked = await self.store.link_blob(repo, key)
        except BaseException:
            await abandon(self.gate, commit)
            raise
        if not linked:
            await abandon(self.gate, commit)
            return False
        await self.events.publish(BlobMounted(actor, repo, key, source))
        return True
