"""Projects' storage quotas as the management API shows and changes them: the hard limit
(-1 unlimited) and the usage, worked out from the links at each read. Enforcement is the
policy gate's (``wharf.registry.policy.quota``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from wharf.registry.metadata.base import MetadataStore
from wharf.registry.policy.quota import UNLIMITED, QuotaLimits, valid_limit


class InvalidLimit(ValueError):
    """A storage limit that is neither -1 nor 1 byte to 1024 TB (Harbor's rule)."""


@dataclass(frozen=True, slots=True)
class ProjectQuota:
    project: str
    hard: int
    used: int
    created: float | None  # None: never set (the project is unlimited)
    updated: float | None


class Quotas:
    def __init__(self, store: MetadataStore, limits: QuotaLimits) -> None:
        self.store = store
        self.limits = limits

    async def get(self, project: str) -> ProjectQuota:
        record = await self.store.quota(project)
        used = await self.store.project_usage(project)
        if record is None:
            return ProjectQuota(project, UNLIMITED, used, None, None)
        return ProjectQuota(project, record.hard, used, record.created, record.updated)

    async def set(self, project: str, hard: int) -> None:
        """Set the project's storage limit. Lowering it below the usage refuses further
        growth; nothing already stored is removed (as in Harbor)."""
        if not valid_limit(hard):
            raise InvalidLimit(
                f"invalid storage limit {hard}: -1 (unlimited) or 1 to {1024**5} bytes"
            )
        await self.store.set_quota(project, hard, time.time())
        await self.limits.changed()
