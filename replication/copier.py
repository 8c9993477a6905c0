"""Copying one artifact between two ``Side``s: what a replication task does.

An artifact is a manifest (an image, or an index with its children) in a repository, with
the tags that point at it, and the manifests that refer to it (signatures, SBOMs: its
referrers, and theirs). Only what the destination lacks moves: a manifest it has (by
digest) is not written again, a blob it has (HEAD) is not sent, one stored there for
another repository is mounted. Blobs stream from source to destination, at most
``speed`` bytes per second, and their digests are checked on the way (the destination
checks them again). A manifest goes after its blobs and children, a referrer after its
subject, a tag last. Re-running a task after a failure copies only what is still missing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from wharf.replication.client.blobs import BlobSource, DigestMismatch
from wharf.replication.client.client import BlobOutcome, Descriptor, Manifest
from wharf.replication.sides import Side

Log = Callable[[str], Awaitable[None]]

# a manifest's referrers of referrers of ... this deep at most (a loop cannot form, since a
# subject exists before its referrer, but a hostile remote could serve one)
MAX_DEPTH = 8
IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)


@dataclass(slots=True)
class Report:
    manifests_copied: int = 0
    manifests_present: int = 0
    blobs_copied: int = 0
    blobs_mounted: int = 0
    blobs_present: int = 0
    bytes_copied: int = 0
    tags_written: int = 0
    tags_present: int = 0
    tags_kept: list[str] = field(default_factory=list)  # not overridden (override off)
    skipped: str = ""  # why the artifact was not copied at all

    def as_dict(self) -> dict[str, Any]:
        return {
            "manifests_copied": self.manifests_copied,
            "manifests_present": self.manifests_present,
            "blobs_copied": self.blobs_copied,
            "blobs_mounted": self.blobs_mounted,
            "blobs_present": self.blobs_present,
            "bytes_copied": self.bytes_copied,
            "tags_written": self.tags_written,
            "tags_present": self.tags_present,
            "tags_kept": list(self.tags_kept),
            "skipped": self.skipped,
        }


class Throttled:
    """A blob source read at most ``rate`` bytes per second."""

    def __init__(self, source: BlobSource, rate: float) -> None:
        self.source = source
        self.rate = rate

    @property
    def size(self) -> int:
        return self.source.size

    @asynccontextmanager
    async def open(self, offset: int) -> AsyncIterator[AsyncIterator[bytes]]:
        async with self.source.open(offset) as chunks:
            yield self._paced(chunks)

    async def _paced(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        started = time.monotonic()
        sent = 0
        async for chunk in chunks:
            yield chunk
            sent += len(chunk)
            ahead = sent / self.rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)


class Copier:
    def __init__(
        self,
        source: Side,
        source_repo: str,
        destination: Side,
        destination_repo: str,
        *,
        log: Log,
        override: bool = True,
        speed: float | None = None,  # bytes per second
        images_only: bool = False,
    ) -> None:
        self.source = source
        self.source_repo = source_repo
        self.destination = destination
        self.destination_repo = destination_repo
        self.log = log
        self.override = override
        self.speed = speed
        self.images_only = images_only
        self.report = Report()
        self._done: set[str] = set()
        self._manifests: dict[str, Manifest] = {}

    async def copy(self, digest: str, tags: list[str]) -> Report:
        """The artifact at ``digest`` with its children and referrers, then ``tags``."""
        if self.images_only:
            first = await self.source.manifest(self.source_repo, digest)
            if (
                first is not None
                and not first.is_index
                and first.artifact_type not in IMAGE_CONFIGS
            ):
                self.report.skipped = f"not an image ({first.artifact_type})"
                await self.log(f"{digest} skipped: {self.report.skipped}")
                return self.report
        top = await self._copy_manifest(digest, 0)
        for tag in tags:
            await self._tag(tag, top)
        return self.report

    async def _copy_manifest(self, digest: str, depth: int) -> Manifest:
        if digest in self._manifests:
            return self._manifests[digest]
        manifest = await self.source.manifest(self.source_repo, digest)
        if manifest is None:
            raise LookupError(f"{self.source.label}: {self.source_repo}@{digest} is gone")
        if manifest.digest != digest:
            raise DigestMismatch(f"{self.source_repo}@{digest} came back as {manifest.digest}")
        self._manifests[digest] = manifest
        self._done.add(digest)
        present = await self.destination.manifest_digest(self.destination_repo, digest)
        for child in manifest.children():
            await self._copy_manifest(child.digest, depth)
        if present is None:
            for blob in manifest.blobs():
                await self._copy_blob(blob)
            await self.destination.put_manifest(self.destination_repo, digest, manifest)
            self.report.manifests_copied += 1
            await self.log(f"manifest {digest} ({manifest.media_type}) copied")
        else:
            self.report.manifests_present += 1
        if depth < MAX_DEPTH and not self.images_only:
            for referrer in await self.source.referrers(self.source_repo, digest):
                found = referrer.get("digest")
                if isinstance(found, str) and found not in self._done:
                    await self.log(
                        f"referrer {found} ({referrer.get('artifactType') or 'no type'}) "
                        f"of {digest}"
                    )
                    await self._copy_manifest(found, depth + 1)
        return manifest

    async def _copy_blob(self, blob: Descriptor) -> None:
        if blob.digest in self._done:
            return
        self._done.add(blob.digest)
        source: BlobSource = self.source.blob_source(self.source_repo, blob.digest, blob.size)
        if self.speed:
            source = Throttled(source, self.speed)
        outcome = await self.destination.push_blob(self.destination_repo, blob.digest, source)
        if outcome is BlobOutcome.EXISTED:
            self.report.blobs_present += 1
            return
        if outcome is BlobOutcome.MOUNTED:
            self.report.blobs_mounted += 1
            await self.log(f"blob {blob.digest} mounted")
            return
        self.report.blobs_copied += 1
        self.report.bytes_copied += blob.size
        await self.log(f"blob {blob.digest} copied ({blob.size} bytes)")

    async def _tag(self, tag: str, manifest: Manifest) -> None:
        current = await self.destination.manifest_digest(self.destination_repo, tag)
        if current == manifest.digest:
            self.report.tags_present += 1
            return
        if current is not None and not self.override:
            self.report.tags_kept.append(tag)
            await self.log(f"tag {tag} kept at {current} (override is off)")
            return
        await self.destination.put_manifest(self.destination_repo, tag, manifest)
        self.report.tags_written += 1
        await self.log(f"tag {tag} -> {manifest.digest}")
