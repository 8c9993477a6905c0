"""The interface of replication's storage; ``sqlite`` and ``postgres`` implement it, and
``tests/contracts/test_replication_store.py`` holds both to it."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import replace

from wharf.auth.sealing import PREFIX, Sealer, Unsealable
from wharf.replication.models import Execution, Policy, Registry

log = logging.getLogger("wharf.replication")
SEAL_CONTEXT = "replication-registry"


class Conflict(Exception):
    """A name already taken."""


class ReplicationStore(ABC):
    """Registries' secrets are sealed (``auth.sealing``, the ``auth.secret_key``) once a
    sealer is given: written sealed, read opened; ``seal_stored_secrets`` seals what an
    older release stored in plain text."""

    sealer: Sealer | None = None

    def use_sealer(self, sealer: Sealer) -> None:
        self.sealer = sealer

    def sealed(self, registry: Registry) -> Registry:
        """The registry as it is written: its secret sealed."""
        secret = registry.access_secret
        if self.sealer is None or not secret or secret.startswith(PREFIX):
            return registry
        return replace(registry, access_secret=self.sealer.seal(secret, SEAL_CONTEXT))

    def opened(self, registry: Registry) -> Registry:
        """The registry as it was read: its secret opened (a secret sealed with another
        key is lost: the registry is then used without it, and that is logged)."""
        secret = registry.access_secret
        if self.sealer is None or not secret.startswith(PREFIX):
            return registry
        try:
            return replace(registry, access_secret=self.sealer.open(secret, SEAL_CONTEXT))
        except Unsealable as exc:
            log.warning(
                "a registry's secret does not open (was auth.secret_key changed?)",
                extra={"registry": registry.name, "error": str(exc)},
            )
            return replace(registry, access_secret="")

    async def seal_stored_secrets(self) -> int:
        """Seal the secrets stored in plain text (by a release before sealing); how many.
        Safe to run from every process at once: each row is replaced only while it still
        holds the plain secret."""
        if self.sealer is None:
            return 0
        count = 0
        for registry_id, secret in await self.plain_secrets():
            if await self.replace_secret(
                registry_id, secret, self.sealer.seal(secret, SEAL_CONTEXT)
            ):
                count += 1
        return count

    @abstractmethod
    async def plain_secrets(self) -> list[tuple[int, str]]:
        """(registry id, secret) of the registries whose secret is not sealed."""

    @abstractmethod
    async def replace_secret(self, registry_id: int, old: str, new: str) -> bool:
        """Write ``new`` as the registry's secret while it still is ``old``."""

    @abstractmethod
    async def claim_schedule(self, policy_id: int, fired: float) -> bool:
        """Record that the policy's schedule fired at ``fired``, unless that (or a later)
        firing was recorded already: True for the one caller that gets to start it."""

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    # --- registries ---------------------------------------------------------------------
    @abstractmethod
    async def create_registry(self, registry: Registry) -> Registry:
        """Store a new registry (its ``id`` is ignored); it with its id. ``Conflict`` when
        the name is taken."""

    @abstractmethod
    async def get_registry(self, registry_id: int) -> Registry | None: ...

    @abstractmethod
    async def registries(self) -> list[Registry]:
        """Every registry, by id."""

    @abstractmethod
    async def update_registry(self, registry: Registry) -> bool:
        """Write every field of ``registry`` (found by id); False when it is gone.
        ``Conflict`` when renamed to a taken name."""

    @abstractmethod
    async def set_registry_status(self, registry_id: int, status: str) -> bool:
        """Record a health check's verdict (``updated`` is left alone)."""

    @abstractmethod
    async def delete_registry(self, registry_id: int) -> bool: ...

    # --- policies -----------------------------------------------------------------------
    @abstractmethod
    async def create_policy(self, policy: Policy) -> Policy:
        """Store a new policy; it with its id. ``Conflict`` when the name is taken."""

    @abstractmethod
    async def get_policy(self, policy_id: int) -> Policy | None: ...

    @abstractmethod
    async def policies(self) -> list[Policy]:
        """Every policy, by id."""

    @abstractmethod
    async def update_policy(self, policy: Policy) -> bool:
        """Write every field (found by id); False when it is gone. ``Conflict`` on a
        taken name."""

    @abstractmethod
    async def delete_policy(self, policy_id: int) -> bool:
        """Delete a policy and its executions."""

    @abstractmethod
    async def policies_using(self, registry_id: int) -> int:
        """How many policies replicate from or to the registry."""

    # --- executions ---------------------------------------------------------------------
    @abstractmethod
    async def create_execution(self, execution: Execution) -> Execution: ...

    @abstractmethod
    async def get_execution(self, execution_id: int) -> Execution | None: ...

    @abstractmethod
    async def executions(
        self,
        *,
        policy_id: int | None = None,
        status: str | None = None,
        trigger: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Execution], int]:
        """Executions, newest first, and how many match in all."""

    @abstractmethod
    async def in_progress(self, after: int, limit: int) -> list[Execution]:
        """Executions still ``InProgress`` with an id above ``after``, oldest first."""

    @abstractmethod
    async def finish_execution(self, execution: Execution) -> bool:
        """Write an execution's final status, counts and end (only while it is still
        ``InProgress``: two replicas finishing it record it once)."""
