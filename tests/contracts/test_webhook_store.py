"""One test-suite every WebhookStore must pass, written against the interface only
(``wharf.webhook.store``), on each backend of ``backends.BACKENDS``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from tests.contracts.backends import Backend
from wharf.registry.wiring import make_webhook_store, postgres_database, sqlite_database
from wharf.webhook.models import Policy, Target
from wharf.webhook.store import Conflict, WebhookStore


def run(backend: Backend, scenario: Callable[[WebhookStore], Awaitable[None]]) -> None:
    async def main() -> None:
        if backend.name == "sqlite":
            store = make_webhook_store(sqlite_database(backend.location))
        else:
            store = make_webhook_store(postgres_database(backend.location, pool_max=2))
        await store.open()
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(main())


def hook(**changes: object) -> Policy:
    policy = Policy(
        project_id=1,
        project_name="library",
        name="ci",
        description="notify CI",
        targets=(
            Target(
                "https://ci.example.com/hook", auth_header="s1:sealed", payload_format="Default"
            ),
            Target("http://10.0.0.1:8080/", skip_cert_verify=True, payload_format="CloudEvents"),
        ),
        event_types=("PUSH_ARTIFACT", "DELETE_ARTIFACT"),
        creator="admin",
        created=100.0,
        updated=100.0,
    )
    return replace(policy, **changes)  # type: ignore[arg-type]


def test_create_get_list_update_delete(backend: Backend) -> None:
    async def scenario(store: WebhookStore) -> None:
        created = await store.create_policy(hook())
        assert created.id > 0
        assert await store.get_policy(created.id) == created
        other = await store.create_policy(hook(project_id=2, project_name="team", name="ci"))
        assert [p.id for p in await store.policies()] == [created.id, other.id]
        assert await store.policies(2) == [other]
        assert await store.policies(3) == []

        changed = replace(
            created,
            name="renamed",
            targets=(Target("http://new/"),),
            event_types=("PULL_ARTIFACT",),
            enabled=False,
            updated=200.0,
            project_id=99,  # the project never changes
        )
        assert await store.update_policy(changed)
        assert await store.get_policy(created.id) == replace(changed, project_id=1)
        assert not await store.update_policy(replace(changed, id=created.id + 1000))

        assert await store.delete_policy(other.id)
        assert not await store.delete_policy(other.id)
        assert await store.get_policy(other.id) is None

    run(backend, scenario)


def test_names_are_unique_per_project(backend: Backend) -> None:
    async def scenario(store: WebhookStore) -> None:
        first = await store.create_policy(hook())
        with pytest.raises(Conflict):
            await store.create_policy(hook(description="again"))
        second = await store.create_policy(hook(name="other"))
        with pytest.raises(Conflict):
            await store.update_policy(replace(second, name=first.name))
        await store.create_policy(hook(project_id=7, project_name="seven"))  # another project

    run(backend, scenario)


def test_a_deleted_projects_policies_go(backend: Backend) -> None:
    async def scenario(store: WebhookStore) -> None:
        await store.create_policy(hook())
        await store.create_policy(hook(name="two"))
        kept = await store.create_policy(hook(project_id=2, project_name="team"))
        assert await store.delete_project_policies("library") == 2
        assert await store.delete_project_policies("library") == 0
        assert await store.policies() == [kept]

    run(backend, scenario)
