"""Typed domain events the core services emit, and the bus that hands them to subscribers
(the audit log now; webhooks and replication triggers later).

Subscribers are awaited in order before the core's call returns, so what they record is
on disk before the client gets its answer; a subscriber that wants to batch (the audit
log batches pulls) does so itself. A failing subscriber is logged and never fails the
operation that already happened."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from wharf.db.errors import DatabaseUnavailable

log = logging.getLogger("wharf.events")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asked for a change or a read, and from where (for the audit log)."""

    name: str
    client_ip: str = ""


SYSTEM = Actor("system")
ANONYMOUS = Actor("anonymous")


@dataclass(frozen=True, slots=True)
class ManifestPushed:
    actor: Actor
    repo: str
    digest: str
    media_type: str
    tag: str | None
    previous_digest: str | None  # the digest the tag pointed at before, if it moved


@dataclass(frozen=True, slots=True)
class ManifestPulled:
    actor: Actor
    repo: str
    digest: str
    reference: str  # the tag or digest asked for


@dataclass(frozen=True, slots=True)
class ManifestDeleted:
    actor: Actor
    repo: str
    digest: str
    tags: tuple[str, ...]  # the tags that went with it


@dataclass(frozen=True, slots=True)
class TagDeleted:
    actor: Actor
    repo: str
    tag: str
    digest: str


@dataclass(frozen=True, slots=True)
class TagCreated:
    """A tag put on a manifest already in the repository (Harbor's API; a push with a tag
    is a ``ManifestPushed``)."""

    actor: Actor
    repo: str
    tag: str
    digest: str


@dataclass(frozen=True, slots=True)
class BlobMounted:
    actor: Actor
    repo: str
    digest: str
    source: str | None  # None: an automatic mount from any readable repository


@dataclass(frozen=True, slots=True)
class BlobUnlinked:
    actor: Actor
    repo: str
    digest: str


@dataclass(frozen=True, slots=True)
class RepositoryDeleted:
    actor: Actor
    repo: str


@dataclass(frozen=True, slots=True)
class ProjectDeleted:
    actor: Actor
    project: str


@dataclass(frozen=True, slots=True)
class Annotated:
    """What the management API tells about content changed: a label created, updated,
    deleted, attached to an artifact or detached, a repository's description set."""

    actor: Actor
    operation: str  # create, update, delete
    resource_type: str  # label, artifact-label, repository
    resource: str
    project: str  # "" for what belongs to no project (global labels)


@dataclass(frozen=True, slots=True)
class GarbageCollected:
    """A garbage-collection run ended (whatever its status; dry runs too)."""

    actor: Actor
    run_id: int
    status: str
    manifests_swept: int
    blobs_swept: int
    bytes_freed: int
    dry_run: bool


@dataclass(frozen=True, slots=True)
class ReplicationChanged:
    """A write of the replication service: a remote registry or a policy created, updated
    or deleted, an execution started or stopped."""

    actor: Actor
    operation: str  # create, update, delete, stop
    resource_type: str  # registry, replication_policy, replication_execution
    resource_id: int
    name: str  # the registry's or policy's name


@dataclass(frozen=True, slots=True)
class Denied:
    """An operation the policy gate or access control refused (audited as ``denied``)."""

    actor: Actor
    operation: str  # push, pull, delete
    repo: str
    reference: str
    reason: str


@dataclass(frozen=True, slots=True)
class QuotaExceeded:
    """A write the project's storage quota refused (Harbor's QUOTA_EXCEED)."""

    actor: Actor
    project: str
    repo: str
    digest: str  # the blob or manifest that did not fit
    used: int  # bytes in use before the refused write
    limit: int
    requested: int  # bytes the refused write would have added


@dataclass(frozen=True, slots=True)
class QuotaWarning:
    """A write took the project's usage past the warning share of its quota (Harbor's
    QUOTA_WARNING, 85 %), sent when usage crosses the threshold upwards."""

    actor: Actor
    project: str
    repo: str
    digest: str
    used: int
    limit: int


@dataclass(frozen=True, slots=True)
class ReplicationFinished:
    """A replication execution ended (Succeed, Failed or Stopped)."""

    actor: Actor
    execution_id: int
    policy_id: int
    policy_name: str
    status: str
    trigger: str  # manual, scheduled, event_based
    succeeded: int  # tasks
    failed: int
    projects: tuple[str, ...]  # the local projects the execution read from or wrote to


@dataclass(frozen=True, slots=True)
class RetentionFinished:
    """A tag-retention execution ended; ``removed`` lists ``repo@digest`` it deleted
    (nothing for a dry run)."""

    actor: Actor
    execution_id: int
    project: str
    status: str
    dry_run: bool
    retained: int
    removed: tuple[str, ...]


Event = (
    ManifestPushed
    | ManifestPulled
    | ManifestDeleted
    | TagDeleted
    | TagCreated
    | BlobMounted
    | BlobUnlinked
    | RepositoryDeleted
    | ProjectDeleted
    | Annotated
    | GarbageCollected
    | ReplicationChanged
    | QuotaExceeded
    | QuotaWarning
    | ReplicationFinished
    | RetentionFinished
    | Denied
)
Subscriber = Callable[[Event], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def publish(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                await subscriber(event)
            except DatabaseUnavailable as exc:
                # not a fault of the subscriber: what it would have recorded (a webhook
                # delivery, a replication task) is lost with the database's outage
                log.warning(
                    "event subscriber could not run: the database is unavailable",
                    extra={"event": type(event).__name__, "error": str(exc)},
                )
            except Exception:
                log.exception("event subscriber failed", extra={"event": type(event).__name__})
