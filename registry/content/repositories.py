"""Whole repositories and projects: deleting them goes through the gate and the events
like every other change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from wharf.registry.content.cache import GenerationCache
from wharf.registry.content.gatekeeping import ask
from wharf.registry.events import (
    Actor,
    Annotated,
    EventBus,
    ProjectDeleted,
    RepositoryDeleted,
)
from wharf.registry.metadata.base import ManifestRecord, MetadataStore
from wharf.registry.oci.errors import NAME_UNKNOWN, RegistryError
from wharf.registry.policy.gate import Annotation, Deletion, PolicyGate


class Repositories:
    def __init__(
        self,
        store: MetadataStore,
        gate: PolicyGate,
        events: EventBus,
        lookups: GenerationCache[str, ManifestRecord],
    ) -> None:
        self.store = store
        self.gate = gate
        self.events = events
        self.lookups = lookups

    async def delete(self, repo: str, actor: Actor) -> None:
        """Forget a repository: its manifests, tags and blob links (the blobs are GC's)."""
        await ask(self.gate, Deletion(actor, "repository", repo))
        if not await self.store.delete_repository(repo):
            raise RegistryError(NAME_UNKNOWN, {"name": repo})
        await self.lookups.invalidate(repo)
        await self.events.publish(RepositoryDeleted(actor, repo))

    async def describe(self, repo: str, description: str, actor: Actor) -> None:
        """Set a repository's description (NAME_UNKNOWN when there is no such one)."""
        await ask(self.gate, Annotation(actor, "repository", repo))
        if not await self.store.set_repository_description(repo, description):
            raise RegistryError(NAME_UNKNOWN, {"name": repo})
        project = repo.split("/", 1)[0]
        await self.events.publish(Annotated(actor, "update", "repository", repo, project))

    async def delete_project(
        self, project: str, actor: Actor, remove: Callable[[], Awaitable[bool]]
    ) -> bool:
        """Delete an (empty) project. ``remove`` is the project store's own deletion, which
        checks emptiness in the same transaction; False when the project did not exist."""
        await ask(self.gate, Deletion(actor, "project", project))
        if not await remove():
            return False
        await self.store.delete_quota(project)  # a project made later under the name starts anew
        await self.events.publish(ProjectDeleted(actor, project))
        return True
