"""One test-suite every ReplicationStore must pass, written against the interface only
(``wharf.replication.store``); the backends are listed in ``backends.BACKENDS``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from tests.contracts.backends import Backend
from wharf.auth.sealing import Sealer
from wharf.replication.models import (
    FAILED,
    IN_PROGRESS,
    SUCCEED,
    Execution,
    Filter,
    Policy,
    Registry,
)
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


def test_policies_crud_and_what_uses_a_registry(backend: Backend) -> None:
    async def scenario(store: ReplicationStore) -> None:
        remote = await store.create_registry(hub())
        other = await store.create_registry(hub(name="other"))
        push = Policy(
            name="push",
            dest_registry_id=remote.id,
            dest_namespace="team",
            dest_namespace_replace_count=1,
            filters=(
                Filter("name", "src/**"),
                Filter("tag", "v*", "excludes"),
                Filter("label", ("prod", "signed")),
            ),
            override=False,
            speed=512,
            copy_by_chunk=True,
            single_active_replication=True,
            created=1.0,
            updated=2.0,
        )
        created = await store.create_policy(push)
        assert created.id > 0 and await store.get_policy(created.id) == created
        pull = await store.create_policy(Policy(name="pull", src_registry_id=remote.id))
        assert pull.enabled and pull.override and pull.filters == ()
        with pytest.raises(Conflict):
            await store.create_policy(Policy(name="push", dest_registry_id=other.id))
        assert [p.name for p in await store.policies()] == ["push", "pull"]
        assert await store.policies_using(remote.id) == 2
        assert await store.policies_using(other.id) == 0

        moved = replace(created, dest_registry_id=other.id, filters=(), enabled=False)
        assert await store.update_policy(moved)
        assert await store.get_policy(created.id) == moved
        assert await store.policies_using(other.id) == 1
        with pytest.raises(Conflict):
            await store.update_policy(replace(moved, name="pull"))
        assert not await store.update_policy(replace(moved, id=moved.id + 100))
        assert await store.delete_policy(pull.id)
        assert not await store.delete_policy(pull.id)
        assert await store.policies_using(remote.id) == 0

    run(backend, scenario)


def test_executions_are_listed_finished_once_and_go_with_their_policy(backend: Backend) -> None:
    async def scenario(store: ReplicationStore) -> None:
        remote = await store.create_registry(hub())
        policy = await store.create_policy(Policy(name="p", dest_registry_id=remote.id))
        other = await store.create_policy(Policy(name="q", dest_registry_id=remote.id))
        first = await store.create_execution(Execution(policy.id, "manual", start_time=10.0))
        second = await store.create_execution(Execution(policy.id, "manual", start_time=20.0))
        third = await store.create_execution(Execution(other.id, "scheduled", start_time=30.0))
        assert await store.get_execution(first.id) == first
        assert first.status == IN_PROGRESS and first.end_time is None
        found, total = await store.executions(policy_id=policy.id)
        assert total == 2 and [e.id for e in found] == [second.id, first.id]
        found, total = await store.executions(limit=1, offset=1)
        assert total == 3 and [e.id for e in found] == [second.id]
        assert (await store.executions(trigger="scheduled"))[1] == 1
        assert (await store.executions(policy_id=policy.id, offset=5)) == ([], 2)

        done = replace(first, status=SUCCEED, total=3, succeed=3, end_time=15.0, status_text="ok")
        assert await store.finish_execution(done)
        assert await store.get_execution(first.id) == done
        assert not await store.finish_execution(replace(done, status=FAILED))  # once only
        assert (await store.executions(status=IN_PROGRESS))[1] == 2

        assert await store.delete_policy(policy.id)
        assert await store.get_execution(first.id) is None
        assert await store.get_execution(third.id) == third

    run(backend, scenario)


def test_executions_in_progress_oldest_first_after_a_cursor(backend: Backend) -> None:
    async def scenario(store: ReplicationStore) -> None:
        remote = await store.create_registry(hub())
        policy = await store.create_policy(Policy(name="p", dest_registry_id=remote.id))
        made = [
            await store.create_execution(Execution(policy.id, "event_based", start_time=n))
            for n in range(5)
        ]
        done = replace(made[1], status=SUCCEED, end_time=9.0)
        assert await store.finish_execution(done)
        ids = [e.id for e in made]
        assert [e.id for e in await store.in_progress(0, 2)] == [ids[0], ids[2]]
        assert [e.id for e in await store.in_progress(ids[2], 10)] == ids[3:]
        assert await store.in_progress(ids[4], 10) == []

    run(backend, scenario)


def test_a_schedule_firing_is_claimed_once(backend: Backend) -> None:
    async def scenario(store: ReplicationStore) -> None:
        remote = await store.create_registry(hub())
        policy = await store.create_policy(Policy(name="p", dest_registry_id=remote.id))
        other = await store.create_policy(Policy(name="q", dest_registry_id=remote.id))
        assert await store.claim_schedule(policy.id, 100.0)
        assert not await store.claim_schedule(policy.id, 100.0)  # another replica, same firing
        assert not await store.claim_schedule(policy.id, 99.0)  # an older one, replayed
        assert await store.claim_schedule(other.id, 100.0)  # each policy its own
        assert await store.claim_schedule(policy.id, 101.0)
        assert not await store.claim_schedule(policy.id + other.id + 100, 5.0)

    run(backend, scenario)


def test_secrets_are_sealed_and_plain_ones_sealed_later(backend: Backend) -> None:
    async def scenario(store: ReplicationStore) -> None:
        old = await store.create_registry(hub(name="old", access_secret="plain-1"))
        assert await store.plain_secrets() == [(old.id, "plain-1")]
        store.use_sealer(Sealer("the key"))
        assert (await store.get_registry(old.id)) == old  # plain still reads as it was
        new = await store.create_registry(hub(name="new", access_secret="fresh-2"))
        assert await store.plain_secrets() == [(old.id, "plain-1")]  # new was sealed
        assert await store.seal_stored_secrets() == 1
        assert await store.seal_stored_secrets() == 0
        assert await store.plain_secrets() == []
        assert [r.access_secret for r in await store.registries()] == ["plain-1", "fresh-2"]
        assert not await store.replace_secret(old.id, "plain-1", "x")  # no longer plain
        changed = replace(new, access_secret="rotated-3")
        assert await store.update_registry(changed)
        assert await store.plain_secrets() == []
        assert await store.get_registry(new.id) == changed
        # another key opens nothing: the registry is used without its secret
        store.use_sealer(Sealer("another key"))
        found = await store.get_registry(new.id)
        assert found is not None and found.access_secret == ""

    run(backend, scenario)
