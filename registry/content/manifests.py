"""Manifests and tags: put (verified against the blobs it references), get (cached),
delete by digest or tag."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.registry.content.cache import BytesCache, GenerationCache, Generations
from wharf.registry.content.gatekeeping import abandon, admit, ask
from wharf.registry.content.hashing import ResumableHash
from wharf.registry.content.pins import pin_digest
from wharf.registry.events import (
    Actor,
    EventBus,
    ManifestDeleted,
    ManifestPulled,
    ManifestPushed,
    TagCreated,
    TagDeleted,
)
from wharf.registry.metadata.base import ArtifactFacts, ManifestRecord, MetadataStore
from wharf.registry.oci import artifacts
from wharf.registry.oci.errors import (
    DIGEST_INVALID,
    MANIFEST_BLOB_UNKNOWN,
    MANIFEST_TOO_LARGE,
    MANIFEST_UNKNOWN,
    RegistryError,
)
from wharf.registry.oci.manifests import ParsedManifest, parse_manifest
from wharf.registry.oci.names import Digest, parse_digest
from wharf.registry.policy.gate import Deletion, PolicyGate, TagWrite, UploadCommit
from wharf.storage.base import Driver, KeyNotFound

LOOKUP_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class StoredManifest:
    record: ManifestRecord
    content: bytes


@dataclass(frozen=True, slots=True)
class PutManifestOutcome:
    digest: str
    subject: str | None


class TagExists(Exception):
    """The tag to create is already in the repository (on whatever manifest)."""


def facts_of(parsed: ParsedManifest, size: int) -> ArtifactFacts:
    """What Harbor's API tells of the artifact a manifest is (its children's sizes are
    added by the store)."""
    return ArtifactFacts(
        artifacts.media_type(parsed.doc, parsed.media_type),
        artifacts.own_size(parsed.doc, size, parsed.media_type),
    )


class Manifests:
    def __init__(
        self,
        store: MetadataStore,
        driver: Driver,
        gate: PolicyGate,
        events: EventBus,
        generations: Generations,
        *,
        max_size: int,
        cache_bytes: int,
    ) -> None:
        self.store = store
        self.driver = driver
        self.gate = gate
        self.events = events
        self.max_size = max_size
        self.contents = BytesCache(cache_bytes)
        # (repo, tag or digest) -> record; misses are not cached
        self.lookups: GenerationCache[str, ManifestRecord] = GenerationCache(
            generations, LOOKUP_ENTRIES
        )

    async def put(
        self,
        repo: str,
        reference: str | Digest,
        body: bytes,
        content_type: str | None,
        actor: Actor,
    ) -> PutManifestOutcome:
        if len(body) > self.max_size:
            raise RegistryError(MANIFEST_TOO_LARGE, {"limit": self.max_size})
        parsed = parse_manifest(body, content_type)
        algorithm = reference.algorithm if isinstance(reference, Digest) else "sha256"
        hasher = ResumableHash(algorithm)
        hasher.update(body)
        digest = Digest(algorithm, hasher.hexdigest())
        if isinstance(reference, Digest) and reference != digest:
            raise RegistryError(DIGEST_INVALID, {"expected": str(reference), "actual": str(digest)})
        tag = None if isinstance(reference, Digest) else reference
        previous: str | None = None
        if tag is not None:
            found = await self._lookup(repo, tag)
            previous = None if found is None else found.digest
            if previous != str(digest):
                await ask(self.gate, TagWrite(actor, repo, tag, str(digest), previous))
        # the manifest's own bytes count against the project's quota (its blobs were
        # admitted when they were uploaded or mounted into the repository)
        commit, pinned = await admit(
            self.gate, self.store, UploadCommit(actor, repo, str(digest), len(body))
        )
        record = ManifestRecord(
            str(digest),
            parsed.media_type,
            len(body),
            parsed.artifact_type,
            parsed.subject,
            parsed.annotations,
        )
        try:
            if not pinned:
                await pin_digest(self.store, str(digest))
            await self.driver.put_bytes(digest.key, body)
            result = await self.store.put_manifest(
                repo,
                record,
                parsed.blobs,
                parsed.children,
                tag,
                facts=facts_of(parsed, len(body)),
            )
        except BaseException:
            await abandon(self.gate, commit)
            raise
        if result.missing_blobs or result.missing_manifests:
            await abandon(self.gate, commit)
            raise RegistryError(
                MANIFEST_BLOB_UNKNOWN,
                {"blobs": result.missing_blobs, "manifests": result.missing_manifests},
            )
        await self.lookups.invalidate(repo)
        self.contents.put(record.digest, body)
        await self.events.publish(
            ManifestPushed(actor, repo, record.digest, record.media_type, tag, previous)
        )
        return PutManifestOutcome(record.digest, parsed.subject)

    async def _lookup(self, repo: str, reference: str | Digest) -> ManifestRecord | None:
        key = str(reference)
        cached = self.lookups.get(repo, key)
        if cached is not None:
            return cached
        generation = self.lookups.generation(repo)  # before the query: see cache.py
        if isinstance(reference, Digest):
            record = await self.store.get_manifest(repo, key)
        else:
            record = await self.store.resolve_tag(repo, reference)
        if record is not None:
            self.lookups.put(repo, key, record, generation)
        return record

    async def find(self, repo: str, reference: str | Digest) -> ManifestRecord:
        record = await self._lookup(repo, reference)
        if record is None:
            raise RegistryError(MANIFEST_UNKNOWN, {"reference": str(reference)})
        return record

    async def get(
        self, repo: str, reference: str | Digest, actor: Actor, *, pull: bool = True
    ) -> StoredManifest:
        """The manifest and its bytes; ``pull`` (a GET, not a HEAD) is an event."""
        record = await self.find(repo, reference)
        content = self.contents.get(record.digest)
        if content is None:
            try:
                content = await self.driver.get_bytes(parse_digest(record.digest).key)
            except KeyNotFound:
                raise RegistryError(MANIFEST_UNKNOWN, {"reference": str(reference)}) from None
            self.contents.put(record.digest, content)
        if pull:
            await self.events.publish(ManifestPulled(actor, repo, record.digest, str(reference)))
        return StoredManifest(record, content)

    async def tag(self, repo: str, digest: Digest, tag: str, actor: Actor) -> None:
        """Put a new tag on a manifest of the repository: TagExists when the repository
        has that tag already, MANIFEST_UNKNOWN when the manifest is gone."""
        await ask(self.gate, TagWrite(actor, repo, tag, str(digest), None))
        outcome = await self.store.create_tag(repo, tag, str(digest))
        if outcome == "exists":
            raise TagExists(tag)
        if outcome == "missing":
            raise RegistryError(MANIFEST_UNKNOWN, {"reference": str(digest)})
        await self.lookups.invalidate(repo)
        await self.events.publish(TagCreated(actor, repo, tag, str(digest)))

    async def delete(self, repo: str, reference: str | Digest, actor: Actor) -> None:
        """Delete a manifest (with every tag on it) by digest, or only a tag by name."""
        kind = "manifest" if isinstance(reference, Digest) else "tag"
        await ask(self.gate, Deletion(actor, kind, repo, str(reference)))
        if isinstance(reference, Digest):
            # the tags that go with it, for the event (a webhook names the artifact by its
            # first tag, as Harbor's does); a tag put on it meanwhile goes unnamed
            row = await self.store.artifact(repo, str(reference))
            tags = () if row is None else tuple(tag.name for tag in row.tags)
            deleted = await self.store.delete_manifest(repo, str(reference))
            event: ManifestDeleted | TagDeleted = ManifestDeleted(actor, repo, str(reference), tags)
        else:
            found = await self.store.resolve_tag(repo, reference)
            deleted = found is not None and await self.store.delete_tag(repo, reference)
            event = TagDeleted(actor, repo, reference, found.digest if found else "")
        if not deleted:
            raise RegistryError(MANIFEST_UNKNOWN, {"reference": str(reference)})
        await self.lookups.invalidate(repo)
        await self.events.publish(event)
