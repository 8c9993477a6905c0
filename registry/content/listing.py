"""Read-only listings: tags, the catalog, referrers."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from wharf.registry.metadata.base import MetadataStore
from wharf.registry.oci.errors import NAME_UNKNOWN, RegistryError
from wharf.registry.oci.manifests import OCI_INDEX
from wharf.registry.oci.names import Digest


class Listing:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    async def tags(self, repo: str, last: str | None, limit: int | None) -> list[str]:
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
