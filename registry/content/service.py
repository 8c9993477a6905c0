"""The content core: one object the HTTP surfaces call for every read and every change of
content. It asks the policy gate before changes and emits domain events after them; it
knows no HTTP (errors are `RegistryError`s from the OCI catalog)."""

from __future__ import annotations

from wharf.registry.content.artifacts import Artifacts
from wharf.registry.content.blobs import Blobs
from wharf.registry.content.cache import Generations, InProcessGenerations
from wharf.registry.content.labels import Labels
from wharf.registry.content.listing import Listing
from wharf.registry.content.manifests import Manifests
from wharf.registry.content.quotas import Quotas
from wharf.registry.content.repositories import Repositories
from wharf.registry.content.uploads import Uploads
from wharf.registry.events import EventBus
from wharf.registry.metadata.base import MetadataStore
from wharf.registry.policy.gate import PolicyGate
from wharf.registry.policy.quota import QuotaLimits
from wharf.storage.base import Driver


class ContentService:
    def __init__(
        self,
        store: MetadataStore,
        driver: Driver,
        *,
        gate: PolicyGate | None = None,
        events: EventBus | None = None,
        generations: Generations | None = None,
        manifest_max_size: int = 4 * 1024 * 1024,
        manifest_cache_bytes: int = 64 * 1024 * 1024,
        quota_limits: QuotaLimits | None = None,
    ) -> None:
        self.store = store
        self.driver = driver
        self.gate = gate or PolicyGate()
        self.events = events or EventBus()
        self.generations = generations or InProcessGenerations()
        self.blobs = Blobs(store, driver, self.gate, self.events)
        self.uploads = Uploads(store, driver, self.gate)
        self.manifests = Manifests(
            store,
            driver,
            self.gate,
            self.events,
            self.generations,
            max_size=manifest_max_size,
            cache_bytes=manifest_cache_bytes,
        )
        self.listing = Listing(store)
        self.repositories = Repositories(store, self.gate, self.events, self.manifests.lookups)
        self.artifacts = Artifacts(store, driver, self.manifests, self.blobs)
        self.labels = Labels(store, self.gate, self.events)
        # the same view of which projects are limited as the gate's StorageQuota rule, so
        # a limit set here applies to this process's next push
        self.quotas = Quotas(store, quota_limits or QuotaLimits(store, self.generations))

    def close(self) -> None:
        self.generations.close()
