"""The interface of replication's storage; ``sqlite`` and ``postgres`` implement it, and
``tests/contracts/test_replication_store.py`` holds both to it."""

from __future__ import annotations

from abc import ABC, abstractmethod

from wharf.replication.models import Registry


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
