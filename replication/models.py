"""What replication stores: the remote registries (endpoints with their credentials)."""

from __future__ import annotations

from dataclasses import dataclass, field

from wharf.replication.client.endpoint import Credential, Endpoint

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"


@dataclass(slots=True)
class Registry:
    """A remote registry as an administrator declared it (Harbor's ``Registry``)."""

    name: str
    type: str
    url: str
    description: str = ""
    credential_type: str = ""  # "" (anonymous), "basic" or "oauth"
    access_key: str = ""
    access_secret: str = field(default="", repr=False)
    insecure: bool = False
    ca_certificate: str = ""  # PEM trusted for this registry ("" = the system's store)
    status: str = ""  # healthy, unhealthy, or "" before the first check
    id: int = 0
    created: float = 0.0
    updated: float = 0.0

    def endpoint(self) -> Endpoint:
        """What the outbound client needs to talk to it."""
        credential = None
        if self.credential_type and (self.access_key or self.access_secret):
            credential = Credential(self.access_key, self.access_secret, self.credential_type)
        return Endpoint(
            self.url,
            self.type,
            credential,
            insecure=self.insecure,
            ca_certificate=self.ca_certificate or None,
            name=self.name,
        )


@dataclass(frozen=True, slots=True)
class Filter:
    """Harbor's ``ReplicationFilter``: ``name`` (repository glob), ``tag`` (tag glob),
    ``resource`` (``image`` or ``artifact``), ``label`` (label names: ``matches`` wants an
    artifact carrying all of them, ``excludes`` leaves out those carrying all of them);
    ``decoration`` ``matches`` or ``excludes``."""

    type: str
    value: str | tuple[str, ...]
    decoration: str = "matches"

    @property
    def pattern(self) -> str:
        """The glob of a name or tag filter (or the resource kind)."""
        return self.value if isinstance(self.value, str) else ""

    @property
    def labels(self) -> tuple[str, ...]:
        """The label names of a label filter."""
        return (self.value,) if isinstance(self.value, str) else self.value


@dataclass(slots=True)
class Policy:
    """A replication rule (Harbor's ``ReplicationPolicy``). One side is this registry
    (``None``), the other a stored remote registry: ``src_registry_id`` set means pull,
    ``dest_registry_id`` set means push."""

    name: str
    src_registry_id: int | None = None
    dest_registry_id: int | None = None
    description: str = ""
    dest_namespace: str = ""
    dest_namespace_replace_count: int = -1  # -1: Harbor's legacy flattening
    trigger_type: str = "manual"
    trigger_cron: str = ""
    filters: tuple[Filter, ...] = ()
    replicate_deletion: bool = False
    override: bool = True
    enabled: bool = True
    speed: int = -1  # KiB/s per task; -1 or 0: unlimited
    copy_by_chunk: bool = False
    single_active_replication: bool = False
    id: int = 0
    created: float = 0.0
    updated: float = 0.0

    @property
    def remote_registry_id(self) -> int:
        registry = self.src_registry_id or self.dest_registry_id
        assert registry is not None
        return registry

    @property
    def pulls(self) -> bool:
        return self.src_registry_id is not None


IN_PROGRESS = "InProgress"
SUCCEED = "Succeed"
FAILED = "Failed"
STOPPED = "Stopped"


@dataclass(slots=True)
class Execution:
    """One run of a policy. Its tasks are jobs of the job queue (group
    ``replication:<id>``); ``status`` and the counts are final once written by
    ``ReplicationService.refresh`` (until then they are computed from the jobs)."""

    policy_id: int
    trigger: str  # manual, scheduled, event_based
    status: str = IN_PROGRESS
    status_text: str = ""
    total: int = 0
    succeed: int = 0
    failed: int = 0
    stopped: int = 0
    in_progress: int = 0
    start_time: float = 0.0
    end_time: float | None = None
    id: int = 0
