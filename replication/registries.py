"""The core service of remote registries: what the management API (and the replication
policies that point at them) may do with the endpoints, checked, then written through
the store, then announced on the event bus (the audit log records them).

Harbor's rules: a name of at most 64 characters, unique; a URL that is http(s) (``http://``
when no scheme is given); a known type; a registry is only stored or changed while it
answers (the ping is part of the check); a registry a replication policy (or, later, a
proxy-cache project) uses cannot be deleted; its secret is never handed out again, and
is forgotten when the URL moves without a new one (so a stored password never follows a
URL change to another host)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import aiohttp

from wharf.auth.errors import AlreadyExists, BadRequest, NotFound, Precondition
from wharf.registry.events import Actor, EventBus, ReplicationChanged
from wharf.replication.client.auth import AuthFailed
from wharf.replication.client.client import RegistryClient
from wharf.replication.client.endpoint import (
    ENDPOINT_TYPES,
    InvalidEndpoint,
    check_ca_certificate,
    harbor_url,
)
from wharf.replication.client.transport import (
    ClientOptions,
    RegistryUnreachable,
    RemoteError,
    RetryPolicy,
)
from wharf.replication.models import HEALTHY, UNHEALTHY, Registry
from wharf.replication.store import Conflict, ReplicationStore

log = logging.getLogger("wharf.replication")

MAX_NAME = 64
CREDENTIAL_TYPES = ("", "basic", "oauth")
# a ping is a question, not a transfer: a dead endpoint answers within seconds
PING_OPTIONS = ClientOptions(
    retry=RetryPolicy(attempts=2, backoff=0.2, max_delay=1.0), connect_timeout=3, read_timeout=5
)
PING_DEADLINE = 6.0  # seconds a ping may take in all (token service included)

# who else uses a registry: a reason it cannot be deleted, or None
Reference = Callable[[int], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class RegistryUpdate:
    """Harbor's ``RegistryUpdate``: what is None stays as it is."""

    name: str | None = None
    description: str | None = None
    url: str | None = None
    credential_type: str | None = None
    access_key: str | None = None
    access_secret: str | None = None
    insecure: bool | None = None
    ca_certificate: str | None = None


@dataclass(frozen=True, slots=True)
class FilterStyle:
    type: str
    style: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RegistryInfo:
    type: str
    description: str
    supported_resource_filters: tuple[FilterStyle, ...]
    supported_triggers: tuple[str, ...]
    supported_copy_by_chunk: bool


@dataclass(frozen=True, slots=True)
class Health:
    healthy: bool
    reason: str = ""


def resource_types(kind: str) -> tuple[str, ...]:
    """What a policy may replicate from/to this type: OCI artifacts beyond images only
    where the remote keeps them (Wharf and Harbor)."""
    return ("image", "artifact") if kind in ("wharf", "harbor") else ("image",)


class RegistryService:
    def __init__(
        self,
        store: ReplicationStore,
        events: EventBus,
        *,
        ping_options: ClientOptions = PING_OPTIONS,
        ping_deadline: float = PING_DEADLINE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.events = events
        self.ping_options = ping_options
        self.ping_deadline = ping_deadline
        self.clock = clock
        self.references: list[Reference] = []

    # --- reading ----------------------------------------------------------------------
    async def all(self) -> list[Registry]:
        return await self.store.registries()

    async def get(self, registry_id: int) -> Registry:
        registry = await self.store.get_registry(registry_id)
        if registry is None:
            raise NotFound(f"registry {registry_id} not found")
        return registry

    def adapters(self) -> list[str]:
        return list(ENDPOINT_TYPES)

    def info(self, registry: Registry) -> RegistryInfo:
        kind = ENDPOINT_TYPES[registry.type]
        return RegistryInfo(
            type=registry.type,
            description=kind.description,
            supported_resource_filters=(
                FilterStyle("name", "input"),
                FilterStyle("tag", "input"),
                FilterStyle("resource", "radio", resource_types(registry.type)),
            ),
            supported_triggers=("manual", "scheduled"),
            supported_copy_by_chunk=True,
        )

    # --- health ------------------------------------------------------------------------
    async def check(self, registry: Registry) -> Health:
        """Ping the registry with its credential: it speaks the distribution API and
        takes the credential."""
        try:
            endpoint = registry.endpoint()
            async with asyncio.timeout(self.ping_deadline):
                async with RegistryClient(endpoint, self.ping_options) as client:
                    await client.ping()
        except TimeoutError:
            return Health(False, f"no answer within {self.ping_deadline:g}s")
        except (InvalidEndpoint, RegistryUnreachable, AuthFailed, RemoteError) as exc:
            return Health(False, str(exc))
        except (aiohttp.ClientError, ValueError, OSError) as exc:  # e.g. a URL aiohttp refuses
            return Health(False, f"{type(exc).__name__}: {exc}")
        return Health(True)

    async def ping(self, registry: Registry) -> None:
        """BadRequest (Harbor's "the registry is unhealthy", with why) unless it answers.
        ``registry`` need not be stored (a ping before creating one) nor named."""
        registry = self._normalized(replace(registry), named=False)
        health = await self.check(registry)
        if not health.healthy:
            raise BadRequest(f"the registry is unhealthy: {health.reason}")

    async def check_all(self) -> int:
        """Record every registry's health (periodically, on the leader); how many
        changed."""
        changed = 0
        for registry in await self.store.registries():
            health = await self.check(registry)
            status = HEALTHY if health.healthy else UNHEALTHY
            if status != registry.status:
                await self.store.set_registry_status(registry.id, status)
                changed += 1
                log.info(
                    "registry health changed",
                    extra={"registry": registry.name, "status": status, "reason": health.reason},
                )
        return changed

    # --- writing -----------------------------------------------------------------------
    async def create(self, actor: Actor, registry: Registry) -> Registry:
        now = self.clock()
        registry = self._normalized(replace(registry, id=0, created=now, updated=now))
        await self.ping(registry)
        registry.status = HEALTHY
        try:
            created = await self.store.create_registry(registry)
        except Conflict as exc:
            raise AlreadyExists(str(exc)) from None
        await self.events.publish(
            ReplicationChanged(actor, "create", "registry", created.id, created.name)
        )
        return created

    async def update(self, actor: Actor, registry_id: int, change: RegistryUpdate) -> Registry:
        stored = await self.get(registry_id)
        updated = replace(stored, updated=self.clock())
        for key in ("name", "description", "url", "insecure", "ca_certificate"):
            value = getattr(change, key)
            if value is not None:
                setattr(updated, key, value)
        for key in ("credential_type", "access_key", "access_secret"):
            value = getattr(change, key)
            if value is not None:
                setattr(updated, key, value)
        updated = self._normalized(updated)
        if updated.url != stored.url and change.access_secret is None:
            updated.access_secret = ""  # a stored secret is never sent to a new address
        await self.ping(updated)
        updated.status = HEALTHY
        try:
            found = await self.store.update_registry(updated)
        except Conflict as exc:
            raise AlreadyExists(str(exc)) from None
        if not found:
            raise NotFound(f"registry {registry_id} not found")
        await self.events.publish(
            ReplicationChanged(actor, "update", "registry", updated.id, updated.name)
        )
        return updated

    async def delete(self, actor: Actor, registry_id: int) -> None:
        registry = await self.get(registry_id)
        for reference in self.references:
            reason = await reference(registry_id)
            if reason is not None:
                raise Precondition(
                    f"the registry {registry_id} is referenced by {reason}, cannot delete it"
                )
        if not await self.store.delete_registry(registry_id):
            raise NotFound(f"registry {registry_id} not found")
        await self.events.publish(
            ReplicationChanged(actor, "delete", "registry", registry_id, registry.name)
        )

    # --- checks ------------------------------------------------------------------------
    def _normalized(self, registry: Registry, *, named: bool = True) -> Registry:
        registry.name = registry.name.strip()
        kind = ENDPOINT_TYPES.get(registry.type)
        if not registry.url and kind is not None and kind.default_url:
            registry.url = kind.default_url
        try:
            registry.url = harbor_url(registry.url)
        except InvalidEndpoint as exc:
            raise BadRequest(str(exc)) from None
        if not registry.credential_type and (registry.access_key or registry.access_secret):
            registry.credential_type = "basic"
        if named and not registry.name:
            raise BadRequest("name cannot be empty")
        if len(registry.name) > MAX_NAME:
            raise BadRequest(f"the max length of name is {MAX_NAME}")
        if registry.type not in ENDPOINT_TYPES:
            known = ", ".join(ENDPOINT_TYPES)
            raise BadRequest(f"invalid registry type {registry.type!r} (one of {known})")
        if registry.credential_type not in CREDENTIAL_TYPES:
            raise BadRequest(f"invalid credential type {registry.credential_type!r}")
        if registry.ca_certificate:
            try:
                check_ca_certificate(registry.ca_certificate)
            except InvalidEndpoint as exc:
                raise BadRequest(str(exc)) from None
        return registry
