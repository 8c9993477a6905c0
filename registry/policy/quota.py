"""Storage quotas: the gate's rule that admits an upload commit (a blob, a mounted blob, a
manifest's own bytes) into its project only while the project's usage stays within its
limit, and the per-process view of which projects have a limit at all.

Usage is never a counter kept beside the data: it is worked out from the links (each
digest once per project, ``MetadataStore.project_usage``), so deletes, GC and
concurrent pushes can't make it drift. An admission is a reservation taken in the
metadata store atomically with every other admission into the project (SQLite's single
writer; PostgreSQL's lock on the project's quota row), so concurrent pushes never take a
project past its limit together. The reservation counts until the digest is linked
(then the link counts instead), the core abandons the write, or it expires. Far from the
limit (below the 85 % warning share) an admission is decided on an upper bound the
project's quota row keeps, so it costs no sum over the project; nearer, on the exact sums.
"""

from __future__ import annotations

import asyncio
import time

from wharf.coord.generations import Generations, InProcessGenerations
from wharf.registry.events import Denied, EventBus, QuotaExceeded, QuotaWarning
from wharf.registry.metadata.base import QUOTA_SHARE, MetadataStore, QuotaAsk
from wharf.registry.policy.gate import Change, PolicyRefused, Refusal, Rule, UploadCommit

UNLIMITED = -1
# Harbor's ceiling for a storage limit (1024 TB)
MAX_LIMIT = 1024**5
WARNING_SHARE = QUOTA_SHARE  # Harbor's QUOTA_WARNING threshold (admissions past it are exact)
# longer than any commit takes (an S3 copy of a large blob), like GC's pins
RESERVE_SECONDS = 900.0
REFRESH_SECONDS = 5.0
MAX_AGE_SECONDS = 60.0


def valid_limit(value: int) -> bool:
    """Harbor's rule: -1 (unlimited) or 1 byte to 1024 TB."""
    return value == UNLIMITED or 0 < value <= MAX_LIMIT


def quota_project(repo: str) -> str | None:
    """The project whose quota a repository's content counts against (None: a name
    without a project component, which no quota covers)."""
    project, slash, _ = repo.partition("/")
    return project if slash else None


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{size} B"


# the generation counter (``wharf.coord``) every change of a limit bumps; no repository
# can have this name
LIMITS_KEY = "\x00quota-limits"


class QuotaLimits:
    """Which projects have a storage limit, as this process knows them, so that a push
    into a project without a limit costs no database round trip. Read again when the
    coordination layer's generation for the limits moved (a limit was set in any process
    or replica: within its invalidation window) — or, while the generations can't vouch
    for freshness (Redis down), at most every ``refresh`` seconds; and at least every
    ``MAX_AGE_SECONDS`` (replicas on several hosts without Redis share no generations). A
    limit changed (not added) applies at once anyway: the admission reads the limit in
    force."""

    def __init__(
        self,
        store: MetadataStore,
        generations: Generations | None = None,
        refresh: float = REFRESH_SECONDS,
    ) -> None:
        self.store = store
        self.generations = generations or InProcessGenerations()
        self.refresh = refresh
        self._limited: frozenset[str] = frozenset()
        self._generation: int | None = None
        self._loaded_at = -1e18
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        age = time.monotonic() - self._loaded_at
        generation = self.generations.current(LIMITS_KEY)
        if generation is None:
            return age < self.refresh
        # the age cap covers replicas whose generations are not shared (no Redis)
        return generation == self._generation and age < MAX_AGE_SECONDS

    async def limited(self, project: str) -> bool:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    generation = self.generations.current(LIMITS_KEY)  # before the query
                    self._limited = frozenset(await self.store.quota_limits())
                    self._generation = generation
                    self._loaded_at = time.monotonic()
        return project in self._limited

    async def changed(self) -> None:
        """A limit was set: every process (and replica) reads them again on next use."""
        self._generation = None
        self._loaded_at = -1e18
        await self.generations.bump(LIMITS_KEY)


class StorageQuota(Rule):
    """Refuses an upload commit that would take its project past its storage limit
    (403 DENIED naming the quota), audited as denied and published as ``QuotaExceeded``;
    an admission that takes usage past 85 % of the limit publishes ``QuotaWarning``."""

    def __init__(self, store: MetadataStore, limits: QuotaLimits, events: EventBus) -> None:
        self.store = store
        self.limits = limits
        self.events = events

    async def reservation(self, change: UploadCommit) -> QuotaAsk | None:
        if change.admitted is not None:
            return None
        project = quota_project(change.repo)
        if project is None or not await self.limits.limited(project):
            return None
        now = time.time()
        return QuotaAsk(project, change.digest, change.size, now, now + RESERVE_SECONDS)

    async def check(self, change: Change) -> None:
        if not isinstance(change, UploadCommit):
            return
        project = quota_project(change.repo)
        if project is None:
            return
        verdict = change.admitted
        if verdict is None:
            wanted = await self.reservation(change)
            if wanted is None:
                return
            verdict = await self.store.reserve_quota(
                project, change.digest, change.size, wanted.now, wanted.until
            )
        if verdict.hard < 0 or verdict.added == 0:
            return
        before = verdict.used + verdict.reserved
        if not verdict.granted:
            message = (
                f"quota exceeded: project {project} has a storage quota of "
                f"{human(verdict.hard)} ({verdict.hard} bytes); {verdict.used} bytes are used"
                + (f" and {verdict.reserved} more are being pushed" if verdict.reserved else "")
                + f", and {change.digest} would add {change.size} bytes"
            )
            await self.events.publish(
                QuotaExceeded(
                    change.actor,
                    project,
                    change.repo,
                    change.digest,
                    verdict.used,
                    verdict.hard,
                    change.size,
                )
            )
            await self.events.publish(
                Denied(change.actor, "push", change.repo, change.digest, message)
            )
            raise PolicyRefused(Refusal.FORBIDDEN, message)
        threshold = verdict.hard * WARNING_SHARE
        after = before + verdict.added
        if verdict.exact and before < threshold <= after:
            await self.events.publish(
                QuotaWarning(change.actor, project, change.repo, change.digest, after, verdict.hard)
            )

    async def abandon(self, change: Change) -> None:
        """The admitted write did not happen: its reservation stops counting. (Two pushes
        of one digest into one project share a reservation; one abandoning drops it for
        both until the other links the digest, a moment of under-counting the bytes in
        flight, never the usage.)"""
        if not isinstance(change, UploadCommit):
            return
        project = quota_project(change.repo)
        if project is None:
            return
        taken = change.admitted
        if taken is not None:
            held = taken.granted and taken.hard >= 0  # the store took a reservation
        else:
            held = await self.limits.limited(project)
        if held:
            await self.store.release_quota(project, change.digest)
