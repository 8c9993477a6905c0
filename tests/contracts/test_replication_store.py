"""One test-suite every ReplicationStore must pass, written against the interface only
(``wharf.replication.store``); the backends are listed in ``backends.BACKENDS``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from tests.contracts.backends import Backend
from wharf.replication.models import Registry
from wharf.replication.store import Conflict, ReplicationStore


def run(backend: Backend, scenario: Callable[[ReplicationStore], Awaitable[None]]) -> None:
    async def main() -> None:
        async with backend.stores() as stores:
            await scenario(stores.replication)

    asyncio.run(main())


def hub(**changes: object) -> Registry:
    registry = Registry(
        name="hub",
        type="docker-hub",
        url="https://hub.docker.com",
        description="Docker Hub",
        credential_type="basic",
        access_key="me",
        access_secret="s3cret",
        insecure=False,
        ca_certificate="",
        status="healthy",
        created=100.0,
        updated=100.0,
    )
    return replace(registry, **changes)  # type: ignore[arg-type]


def test_registries_crud(backend: Backend) -> None:
    async def scenario(store: ReplicationStore) -> None:
        assert await store.registries() == []
        created = await store.create_registry(hub(id=999))
        assert created.id > 0 and created.id != 999
        assert await store.get_registry(created.id) == created
        assert await store.get_registry(created.id + 1) is None
        other = await store.create_registry(
            hub(name="mirror", type="docker-registry", url="http://m:5000", insecure=True,
                credential_type="", access_key="", access_secret="", ca_certificate="PEM")
        )  # fmt: skip
        assert [r.name for r in await store.registries()] == ["hub", "mirror"]
        with pytest.raises(Conflict):
            await store.create_registry(hub())

        changed = replace(created, description="changed", url="https://other", updated=200.0)
        changed.access_secret, changed.insecure = "new", True
        assert await store.update_registry(changed)
        assert await store.get_registry(created.id) == changed
        with pytest.raises(Conflict):
            await store.update_registry(replace(changed, name="mirror"))
        assert not await store.update_registry(replace(changed, id=other.id + 100))

        assert await store.set_registry_status(other.id, "unhealthy")
        back = await store.get_registry(other.id)
        assert back is not None and back.status == "unhealthy" and back.updated == 100.0
        assert not await store.set_registry_status(other.id + 100, "healthy")

        assert await store.delete_registry(created.id)
        assert not await store.delete_registry(created.id)
        assert [r.id for r in await store.registries()] == [other.id]
        again = await store.create_registry(hub())  # the name is free again
        assert again.id not in (created.id, other.id)

    run(backend, scenario)
