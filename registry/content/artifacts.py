"""Artifacts as Harbor's API shows them, and the changes that API makes to them.

Reads: a repository's or a project's artifacts with the facts worked out at push (filled
in once for artifacts pushed before Wharf recorded them), one artifact by tag or digest,
its config's attributes and build history, its accessories (the referrers: signatures,
SBOMs, …, and cosign's tag-named signatures). Changes — a new tag, a delete that takes
along what hangs on the artifact, a copy into another repository — go through the same
write path as the registry API (``Manifests``, ``Blobs``): the gate is asked and events
are emitted for every manifest, tag and blob they touch."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from wharf.registry.content.blobs import Blobs
from wharf.registry.content.cache import BytesCache
from wharf.registry.content.manifests import Manifests, facts_of
from wharf.registry.events import SYSTEM, Actor
from wharf.registry.metadata.base import ArtifactFacts, ArtifactRow, MetadataStore
from wharf.registry.metadata.rows import COSIGN_TAG_PREFIX, COSIGN_TAG_SUFFIX, is_cosign_tag
from wharf.registry.oci import artifacts as kinds
from wharf.registry.oci.charts import ChartInvalid, chart_details
from wharf.registry.oci.errors import (
    BLOB_UNKNOWN,
    DENIED,
    MANIFEST_UNKNOWN,
    NAME_UNKNOWN,
    RegistryError,
)
from wharf.registry.oci.manifests import INDEX_TYPES, parse_manifest
from wharf.registry.oci.names import Digest, is_digest_reference, parse_digest, parse_tag
from wharf.storage.base import Driver, KeyNotFound

CONFIG_CACHE_BYTES = 16 * 1024 * 1024
ATTRS_CACHE_ENTRIES = 4096  # extra attributes of this many artifacts (a few KB each at most)
CONFIG_MAX_BYTES = 4 * 1024 * 1024  # a bigger config yields no attributes
ADDITION_MAX_BYTES = 64 * 1024 * 1024  # the biggest chart or SBOM layer read for one


class Referenced(Exception):
    """The artifact is a manifest of an index: Harbor refuses to delete it (412)."""


class AdditionUnsupported(Exception):
    """The artifact's kind offers no such addition (Harbor: 400)."""


class AdditionMissing(Exception):
    """The artifact should hold the addition but does not (Harbor: 404)."""


@dataclass(frozen=True, slots=True)
class Addition:
    content: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class Accessory:
    """An artifact attached to another one (its subject)."""

    row: ArtifactRow
    subject: ArtifactRow
    type: str  # Harbor's accessory type: signature.cosign, signature.notation, …


def is_accessory(row: ArtifactRow) -> bool:
    """Harbor's accessories: referrers (a manifest with a subject) and cosign signatures
    pushed under a ``sha256-<digest>.sig`` tag. Lists leave them out."""
    return row.record.subject is not None or any(is_cosign_tag(t.name) for t in row.tags)


def is_listed(row: ArtifactRow) -> bool:
    """What Harbor lists (and counts) as a repository's artifacts: no accessory, and no
    untagged manifest of an index."""
    return not is_accessory(row) and (bool(row.tags) or not row.referenced)


def cosign_tag_of(digest: str) -> str | None:
    """The tag cosign puts its signature of ``digest`` under."""
    algorithm, _, encoded = digest.partition(":")
    if algorithm != "sha256":
        return None
    return f"{COSIGN_TAG_PREFIX}{encoded}{COSIGN_TAG_SUFFIX}"


def facts(row: ArtifactRow) -> ArtifactFacts:
    """The row's facts (the rows this service returns always have them)."""
    if row.facts is None:
        raise ValueError(f"artifact {row.id} has no facts")
    return row.facts


def processor(row: ArtifactRow) -> kinds.Processor:
    return kinds.processor(row.record.artifact_type, facts(row).media_type)


class Artifacts:
    def __init__(
        self, store: MetadataStore, driver: Driver, manifests: Manifests, blobs: Blobs
    ) -> None:
        self.store = store
        self.driver = driver
        self.manifests = manifests
        self.blobs = blobs
        self.configs = BytesCache(CONFIG_CACHE_BYTES)
        self.attrs: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # --- reads ---------------------------------------------------------------------------
    async def in_repository(self, repo: str) -> list[ArtifactRow]:
        """Every artifact of ``repo`` (accessories and index children too), newest first;
        NAME_UNKNOWN when there is no such repository."""
        rows = await self.store.artifacts(repo)
        if rows is None:
            raise RegistryError(NAME_UNKNOWN, {"name": repo})
        return await self._with_facts(rows)

    async def listed(self, repo: str, offset: int, limit: int) -> tuple[int, list[ArtifactRow]]:
        """One page of what Harbor lists as ``repo``'s artifacts (``is_listed``), newest
        first, and how many there are; NAME_UNKNOWN when there is no such repository. The
        page is read alone: a repository of many artifacts costs what its page costs."""
        found = await self.store.listed_artifacts(repo, offset, limit)
        if found is None:
            raise RegistryError(NAME_UNKNOWN, {"name": repo})
        total, rows = found
        return total, await self._with_facts(rows)

    async def around(self, repo: str, rows: list[ArtifactRow]) -> list[ArtifactRow]:
        """The artifacts of ``repo`` hanging on or holding ``rows``: their accessories,
        their index children and the indexes holding them."""
        digests = [r.record.digest for r in rows]
        return await self._with_facts(await self.store.artifacts_around(repo, digests))

    async def in_project(self, project: str) -> list[ArtifactRow]:
        return await self._with_facts(await self.store.project_artifacts(project))

    async def find(self, repo: str, reference: str) -> ArtifactRow:
        """The artifact a tag or digest names; MANIFEST_UNKNOWN when there is none."""
        if is_digest_reference(reference):
            digest = str(parse_digest(reference))
        else:
            digest = (await self.manifests.find(repo, parse_tag(reference))).digest
        row = await self.store.artifact(repo, digest)
        if row is None:
            raise RegistryError(MANIFEST_UNKNOWN, {"reference": reference})
        return (await self._with_facts([row]))[0]

    async def manifest_bytes(self, row: ArtifactRow) -> bytes:
        """The manifest's body as pushed (not counted as a pull)."""
        stored = await self.manifests.get(
            row.repo, parse_digest(row.record.digest), SYSTEM, pull=False
        )
        return stored.content

    async def document(self, row: ArtifactRow) -> dict[str, Any]:
        """The manifest's body, parsed."""
        doc = orjson.loads(await self.manifest_bytes(row))
        return doc if isinstance(doc, dict) else {}

    async def config(self, row: ArtifactRow, doc: dict[str, Any] | None = None) -> Any:
        """The artifact's config blob, parsed (None: an index, none, too big or not JSON)."""
        if row.record.media_type in INDEX_TYPES:
            return None
        doc = await self.document(row) if doc is None else doc
        found = kinds.config_digest(doc)
        if found is None:
            return None
        content = self.configs.get(found)
        if content is None:
            try:
                digest = parse_digest(found)
                info = await self.driver.stat(digest.key)
                if info is None or info.size > CONFIG_MAX_BYTES:
                    return None
                content = await self.driver.get_bytes(digest.key)
            except (KeyNotFound, RegistryError):
                return None
            self.configs.put(found, content)
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            return None

    async def extra_attrs(self, row: ArtifactRow) -> dict[str, Any]:
        """Harbor's extra attributes of the artifact (an image's platform, author, config…),
        kept by digest: they follow from content that never changes, and every artifact of
        every list page needs them."""
        kind = processor(row)
        if kind.attributes == "none":
            return {}
        key = f"{kind.type}:{row.record.digest}"
        found = self.attrs.get(key)
        if found is not None:
            self.attrs.move_to_end(key)
            return found
        doc = await self.document(row)
        config = await self.config(row, doc)
        found = kinds.extra_attrs(kind, doc, config)
        if config is not None:  # a config unread now may be read later
            self.attrs[key] = found
            if len(self.attrs) > ATTRS_CACHE_ENTRIES:
                self.attrs.popitem(last=False)
        return found

    async def addition(self, row: ArtifactRow, name: str) -> Addition:
        """One of Harbor's additions of an artifact, as Harbor's processor for its kind
        answers: an image's (or wasm module's) build history, a chart's values.yaml,
        README.md and dependencies, an SBOM's document."""
        kind = processor(row)
        if kind.type == "SBOM":
            return await self._sbom(row)
        if name not in kind.additions:
            raise AdditionUnsupported(f"addition {name.upper()} isn't supported for {kind.type}")
        if name == kinds.BUILD_HISTORY:
            history = kinds.build_history(await self.config(row))
            return Addition(orjson.dumps(history), "application/json; charset=utf-8")
        if kind.type == "CHART":
            return await self._chart_addition(row, name)
        raise AdditionUnsupported(f"addition {name.upper()} isn't supported for {kind.type}")

    async def _layer(self, row: ArtifactRow, doc: dict[str, Any]) -> bytes:
        config = kinds.config_digest(doc)
        layers = [
            d for d in doc.get("layers") or [] if isinstance(d, dict) and d.get("digest") != config
        ]
        if not layers:
            raise AdditionMissing(f"artifact {row.record.digest} has no content layer")
        digest = parse_digest(str(layers[0].get("digest")))
        info = await self.driver.stat(digest.key)
        if info is None:
            raise AdditionMissing(f"the content of {row.record.digest} is missing")
        if info.size > ADDITION_MAX_BYTES:
            raise AdditionUnsupported(f"the content of {row.record.digest} is too big to read")
        try:
            return await self.driver.get_bytes(digest.key)
        except KeyNotFound:
            raise AdditionMissing(f"the content of {row.record.digest} is missing") from None

    async def _chart_addition(self, row: ArtifactRow, name: str) -> Addition:
        archive = await self._layer(row, await self.document(row))
        try:
            details = await asyncio.to_thread(chart_details, archive)
        except ChartInvalid as exc:
            raise AdditionUnsupported(str(exc)) from None
        if name == kinds.VALUES_YAML:
            return Addition((details.values or "").encode(), "text/plain; charset=utf-8")
        if name == kinds.README_MD:
            return Addition((details.readme or "").encode(), "text/markdown; charset=utf-8")
        return Addition(orjson.dumps(details.dependencies), "application/json; charset=utf-8")

    async def _sbom(self, row: ArtifactRow) -> Addition:
        doc = await self.document(row)
        if len(doc.get("layers") or []) != 1:
            raise AdditionMissing("The sbom is not found")
        return Addition(await self._layer(row, doc), kinds.HARBOR_SBOM)

    async def index_entries(self, row: ArtifactRow) -> list[kinds.IndexEntry]:
        if row.record.media_type not in INDEX_TYPES:
            return []
        return kinds.index_entries(await self.document(row))

    async def accessories(
        self, subjects: list[ArtifactRow], every: list[ArtifactRow]
    ) -> dict[int, list[Accessory]]:
        """The accessories of each of ``subjects`` (by its id), found among ``every`` (the
        rows of their repositories), newest first."""
        by_subject: dict[tuple[int, str], ArtifactRow] = {
            (s.repo_id, s.record.digest): s for s in subjects
        }
        by_cosign_tag: dict[tuple[int, str], ArtifactRow] = {}
        for s in subjects:
            name = cosign_tag_of(s.record.digest)
            if name is not None:
                by_cosign_tag[(s.repo_id, name)] = s
        found: dict[int, list[Accessory]] = {}
        for row in every:
            if row.record.subject is not None:
                subject = by_subject.get((row.repo_id, row.record.subject))
                if subject is not None:
                    kind = kinds.accessory_type(await self.document(row))
                    found.setdefault(subject.id, []).append(Accessory(row, subject, kind))
                continue
            for tagged in row.tags:
                subject = by_cosign_tag.get((row.repo_id, tagged.name))
                if subject is not None:
                    found.setdefault(subject.id, []).append(Accessory(row, subject, kinds.COSIGN))
                    break
        return found

    async def _with_facts(self, rows: list[ArtifactRow]) -> list[ArtifactRow]:
        """``rows`` with their facts, working out (and recording) those of artifacts
        pushed before Wharf recorded them."""
        lacking = {row.repo for row in rows if row.facts is None}
        if not lacking:
            return rows
        known: dict[tuple[str, str], ArtifactFacts] = {}
        for repo in sorted(lacking):
            known.update(await self._work_out_facts(repo))
        return [
            row
            if row.facts is not None
            else dataclasses.replace(row, facts=known.get((row.repo, row.record.digest)))
            for row in rows
        ]

    async def _work_out_facts(self, repo: str) -> dict[tuple[str, str], ArtifactFacts]:
        rows = await self.store.artifacts(repo) or []
        sizes = {r.record.digest: r.facts.size for r in rows if r.facts is not None}
        worked: dict[str, ArtifactFacts] = {}
        # manifests first: an index's size counts its children's
        pending = sorted(
            (r for r in rows if r.facts is None),
            key=lambda r: r.record.media_type in INDEX_TYPES,
        )
        for row in pending:
            try:
                stored = await self.manifests.get(
                    repo, parse_digest(row.record.digest), SYSTEM, pull=False
                )
                parsed = parse_manifest(stored.content, row.record.media_type)
            except RegistryError:
                continue  # its bytes are gone: GC will take the row too
            found = facts_of(parsed, len(stored.content))
            size = found.size + sum(sizes.get(child, 0) for child in parsed.children)
            worked[row.record.digest] = ArtifactFacts(found.media_type, size)
            sizes[row.record.digest] = size
        if worked:
            await self.store.set_artifact_facts(repo, worked)
        return {  # bytes gone: what the manifest row says
            (repo, r.record.digest): worked.get(r.record.digest)
            or ArtifactFacts(r.record.media_type, r.record.size)
            for r in rows
            if r.facts is None
        }

    # --- changes -------------------------------------------------------------------------
    async def tag(self, row: ArtifactRow, tag: str, actor: Actor) -> None:
        """A new tag on the artifact (TagExists when the repository has it already)."""
        await self.manifests.tag(row.repo, parse_digest(row.record.digest), tag, actor)

    async def untag(self, row: ArtifactRow, tag: str, actor: Actor) -> bool:
        """Remove a tag of this artifact; False when the artifact has no such tag."""
        if tag not in {t.name for t in row.tags}:
            return False
        try:
            await self.manifests.delete(row.repo, tag, actor)
        except RegistryError as exc:
            if exc.error is MANIFEST_UNKNOWN:
                return False
            raise
        return True

    async def delete(self, row: ArtifactRow, actor: Actor) -> None:
        """Delete the artifact with its tags, its accessories (and theirs), and its index
        manifests no tag and no other index holds. Referenced when an index holds it."""
        if row.referenced:
            raise Referenced(row.record.digest)
        await self._remove(row.repo, row.record.digest, actor, "root")

    async def _remove(self, repo: str, digest: str, actor: Actor, role: str) -> None:
        """``role``: the artifact asked for (``root``), an ``accessory`` of one removed
        (goes with its tags), or an index's ``child`` (stays when tagged)."""
        current = await self.store.artifact(repo, digest)
        if current is None:
            return
        if current.referenced:
            if role == "root":
                raise Referenced(digest)
            return  # another index holds it
        if role == "child" and current.tags:
            return
        for accessory in await self._accessory_digests(repo, digest):
            await self._remove(repo, accessory, actor, "accessory")
        try:
            await self.manifests.delete(repo, parse_digest(digest), actor)
        except RegistryError as exc:
            if exc.error is not MANIFEST_UNKNOWN or role == "root":
                raise
            return  # gone meanwhile
        for child in current.children:
            await self._remove(repo, child, actor, "child")

    async def _accessory_digests(self, repo: str, digest: str) -> list[str]:
        found = [r.digest for r in await self.store.referrers(repo, digest, None)]
        tag = cosign_tag_of(digest)
        if tag is not None:
            signature = await self.store.resolve_tag(repo, tag)
            if signature is not None and signature.digest not in found:
                found.append(signature.digest)
        return [d for d in found if d != digest]

    async def copy(
        self,
        source: ArtifactRow,
        target: str,
        actor: Actor,
        readable: Callable[[str], bool],
    ) -> None:
        """Copy an artifact (its index manifests and accessories along, then its tags)
        into the repository ``target``: blobs are mounted and manifests pushed there."""
        if is_accessory(source):
            raise RegistryError(
                DENIED, message="the operation isn't supported for an artifact accessory"
            )
        stored = await self._copy_manifest(
            source.repo, source.record.digest, target, actor, readable, set()
        )
        for tag in source.tags:
            await self.manifests.put(target, tag.name, stored, source.record.media_type, actor)

    async def _copy_manifest(
        self,
        repo: str,
        digest: str,
        target: str,
        actor: Actor,
        readable: Callable[[str], bool],
        seen: set[str],
        tag: str | None = None,
    ) -> bytes:
        seen.add(digest)
        stored = await self.manifests.get(repo, parse_digest(digest), SYSTEM, pull=False)
        parsed = parse_manifest(stored.content, stored.record.media_type)
        for child in parsed.children:
            if child not in seen:
                await self._copy_manifest(repo, child, target, actor, readable, seen)
        for blob in dict.fromkeys(parsed.blobs):
            if not await self.blobs.mount(target, parse_digest(blob), repo, readable, actor):
                raise RegistryError(BLOB_UNKNOWN, {"digest": blob})
        reference: str | Digest = parse_digest(digest) if tag is None else tag
        await self.manifests.put(target, reference, stored.content, stored.record.media_type, actor)
        for accessory in await self._accessory_digests(repo, digest):
            if accessory in seen:
                continue
            cosign = cosign_tag_of(digest)
            signature = await self.store.resolve_tag(repo, cosign) if cosign else None
            by_tag = cosign if signature is not None and signature.digest == accessory else None
            await self._copy_manifest(repo, accessory, target, actor, readable, seen, by_tag)
        return stored.content
