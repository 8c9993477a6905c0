"""The interface of replication's storage; ``sqlite`` and ``postgres`` implement it, and
``tests/contracts/test_replication_store.py`` holds both to it."""

from __future__ import annotations

from abc import ABC, abstractmethod

from wharf.replication.models import Execution, Policy, Registry


class Conflict(Exception):
    """A name already taken."""


class ReplicationStore(ABC):
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
    async def finish_execution(self, execution: Execution) -> bool:
        """Write an execution's final status, counts and end (only while it is still
        ``InProgress``: two replicas finishing it record it once)."""
