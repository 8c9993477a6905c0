"""One test-suite every AuthStore must pass, written against the interface only
(``wharf.auth.store``); the backends are listed in ``backends.BACKENDS``."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.contracts.backends import Backend, Stores
from wharf.auth.models import AuditEvent, Member, Project, Robot, Role, SigningKey, User
from wharf.auth.store import (
    AuditPurge,
    AuditQuery,
    AuthStore,
    Conflict,
    Page,
    ProjectNotEmpty,
)


def run(backend: Backend, scenario: Callable[[AuthStore], Awaitable[None]]) -> None:
    async def main() -> None:
        async with backend.stores() as stores:
            await scenario(stores.auth)

    asyncio.run(main())


def run_stores(backend: Backend, scenario: Callable[[Stores], Awaitable[None]]) -> None:
    async def main() -> None:
        async with backend.stores() as stores:
            await scenario(stores)

    asyncio.run(main())


# --- users ------------------------------------------------------------------------------
def test_users_crud_and_conflict(backend: Backend) -> None:
    async def scenario(store: AuthStore) -> None:
        assert await store.get_user("alice") is None
        alice = await store.create_user(User("alice", email="a@x", password_hash="h1"))
        assert alice.id > 0
        assert await store.get_user("alice") == alice
        assert await store.get_user_by_id(alice.id) == alice
        assert await store.get_user_by_id(alice.id + 1000) is None
        with pytest.raises(Conflict):
            await store.create_user(User("alice"))

        alice.email, alice.realname, alice.sysadmin, alice.enabled = "new@x", "Al", True, False
        alice.password_hash, alice.comment, alice.updated = "h2", "c", alice.updated + 1
        await store.update_user(alice)
        assert await store.get_user("alice") == alice

        assert await store.delete_user(alice.id)
        assert not await store.delete_user(alice.id)
        assert await store.get_user("alice") is None

    run(backend, scenario)


def test_create_first_admin_is_once(backend: Backend) -> None:
    async def scenario(store: AuthStore) -> None:
        await store.create_user(User("bob"))
        assert not await store.create_first_admin(User("bob", sysadmin=True))  # name taken
        assert await store.create_first_admin(User("admin", sysadmin=True))
        admin = await store.get_user("admin")
        assert admin is not None and admin.sysadmin
        assert not await store.create_first_admin(User("root", sysadmin=True))  # one exists
        assert await store.get_user("root") is None

    run(backend, scenario)


def test_list_users_filter_and_pagination(backend: Backend) -> None:
    async def scenario(store: AuthStore) -> None:
        for name in ["ann", "bob", "anna", "carl", "an_x"]:
            await store.create_user(User(name))
        users, total = await store.list_users(None, Page(0, 2))
        assert total == 5
        assert [u.username for u in users] == ["ann", "bob"]  # creation order
        users, total = await store.list_users(None, Page(4, 2))
        assert ([u.username for u in users], total) == (["an_x"], 5)
        users, total = await store.list_users("an", Page(0, 10))
        assert ([u.username for u in users], total) == (["ann", "anna", "an_x"], 3)
        users, total = await store.list_users("n_", Page(0, 10))  # '_' is no wildcard
        assert ([u.username for u in users], total) == (["an_x"], 1)

    run(backend, scenario)


# --- projects ---------------------------------------------------------------------------
def test_projects_crud_and_conflict(backend: Backend) -> None:
    async def scenario(store: AuthStore) -> None:
        owner = await store.create_user(User("owner"))
        project = await store.create_project(Project("team", owner_id=owner.id))
        assert project.id > 0
        assert await store.get_project("team") == project
        assert await store.get_project_by_id(project.id) == project
        assert await store.get_project("none") is None
        assert await store.get_project_by_id(project.id + 1000) is None
        with pytest.raises(Conflict):
            await store.create_project(Project("team"))

        project.public, project.updated = True, project.updated + 1
        await store.update_project(project)
        assert await store.get_project("team") == project
        assert await store.public_projects() == frozenset({"team"})
        assert await store.existing_projects({"team", "none"}) == frozenset({"team"})
        assert await store.existing_projects(set()) == frozenset()

        assert await store.delete_project(project.id)
        assert not await store.delete_project(project.id)
        assert await store.get_project("team") is None
        assert await store.public_projects() == frozenset()

    run(backend, scenario)


def test_list_projects_filter_visibility_and_pagination(backend: Backend) -> None:
    async def scenario(store: AuthStore) -> None:
        for name, public in [("alpha", True), ("beta", False), ("gamma", False), ("alps", False)]:
            await store.create_project(Project(name, public=public))
        found, total = await store.list_projects(None, None, Page(0, 2))
        assert ([p.name for p in found], total) == (["alpha", "alps"], 4)  # by name
        found, total = await store.list_projects(None, None, Page(2, 2))
        assert ([p.name for p in found], total) == (["beta", "gamma"], 4)
        found, total = await store.list_projects("al", None, Page(0, 10))
        assert ([p.name for p in found], total) == (["alpha", "alps"], 2)
        found, total = await store.list_projects(None, frozenset({"gamma"}), Page(0, 10))
        assert ([p.name for p in found], total) == (["alpha", "gamma"], 2)
        found, total = await store.list_projects(None, frozenset(), Page(0, 10))
        assert ([p.name for p in found], total) == (["alpha"], 1)
        found, total = await store.list_projects("a", frozenset({"alps"}), Page(1, 1))
        assert ([p.name for p in found], total) == (["alps"], 2)

    run(backend, scenario)


def test_delete_project_refused_while_it_holds_repositories(backend: Backend) -> None:
    async def scenario(stores: Stores) -> None:
        auth, metadata = stores.auth, stores.metadata
        team = await auth.create_project(Project("team"))
        bare = await auth.create_project(Project("bare"))
        await metadata.add_blob("team/app", "sha256:" + "a" * 64, 1)
        await metadata.add_blob("bare", "sha256:" + "a" * 64, 1)  # named as the project
        await metadata.add_blob("teamwork/app", "sha256:" + "a" * 64, 1)  # another project
        await metadata.add_blob("team0/app", "sha256:" + "a" * 64, 1)

        with pytest.raises(ProjectNotEmpty) as info:
            await auth.delete_project(team.id)
        assert info.value.project == "team"
        assert await auth.get_project("team") == team  # nothing deleted
        with pytest.raises(ProjectNotEmpty):
            await auth.delete_project(bare.id)
        assert await auth.get_project("bare") == bare

        assert await metadata.delete_repository("team/app")
        assert await auth.delete_project(team.id)  # empty now
        assert await auth.get_project("team") is None
        assert await metadata.repo_exists("teamwork/app")  # untouched

    run_stores(backend, scenario)


# --- members ----------------------------------------------------------------------------
def test_members(backend: Backend) -> None:
    async def scenario(store: AuthStore) -> None:
        alice = await store.create_user(User("alice"))
        bob = await store.create_user(User("bob"))
        team = await store.create_project(Project("team"))
        other = await store.create_project(Project("other"))
        member = await store.add_member(Member(team.id, alice.id, Role.DEVELOPER))
        assert member.id > 0
        with pytest.raises(Conflict):
            await store.add_member(Member(team.id, alice.id, Role.GUEST))
        await store.add_member(Member(team.id, bob.id, Role.GUEST))
        await store.add_member(Member(other.id, alice.id, Role.PROJECT_ADMIN))

        got = await store.get_member(team.id, member.id)
        assert got is not None
        assert (got.user_id, got.role, got.username) == (alice.id, Role.DEVELOPER, "alice")
        assert await store.get_member(other.id, member.id) is None  # not that project's
        assert [m.username for m in await store.list_members(team.id)] == ["alice", "bob"]
        assert await store.memberships(alice.id) == {
            "team": Role.DEVELOPER,
            "other": Role.PROJECT_ADMIN,
        }

        member.role = Role.MAINTAINER
        await store.update_member(member)
        assert (await store.memberships(alice.id))["team"] == Role.MAINTAINER

        assert not await store.delete_member(other.id, member.id)
        assert await store.delete_member(team.id, member.id)
        assert not await store.delete_member(team.id, member.id)
        assert await store.memberships(alice.id) == {"other": Role.PROJECT_ADMIN}
        assert await store.memberships(bob.id + 1000) == {}

    run(backend, scenario)


# --- robots -----------------------------------------------------------------------------
def test_robots_crud_conflict_and_listing(backend: Backend) -> None:
    async def scenario(store: AuthStore) -> None:
        perms = {"team": frozenset({"pull", "push"})}
        robot = await store.create_robot(
            Robot("robot$team+ci", "hash", perms, project="team", expires_at=time.time() + 60)
        )
        assert robot.id > 0
        assert await store.get_robot("robot$team+ci") == robot
        assert await store.get_robot_by_id(robot.id) == robot
        assert await store.get_robot("robot$none") is None
        with pytest.raises(Conflict):
            await store.create_robot(Robot("robot$team+ci", "h", {}))
        await store.create_robot(Robot("robot$team+b", "h", {}, project="team"))
        await store.create_robot(Robot("robot$global", "h", {"*": frozenset({"pull"})}))

        found, total = await store.list_robots(None, Page(0, 2))
        assert ([r.name for r in found], total) == (["robot$team+ci", "robot$team+b"], 3)
        found, total = await store.list_robots("team", Page(1, 5))
        assert ([r.name for r in found], total) == (["robot$team+b"], 2)

        robot.description, robot.secret_hash, robot.disabled = "ci", "hash2", True
        robot.permissions, robot.expires_at = {"team": frozenset({"pull"})}, None
        robot.updated += 1
        await store.update_robot(robot)
        assert await store.get_robot_by_id(robot.id) == robot

        assert await store.delete_robot(robot.id)
        assert not await store.delete_robot(robot.id)
        assert await store.get_robot("robot$team+ci") is None

    run(backend, scenario)


# --- audit events -----------------------------------------------------------------------
def test_events_listing_filters_and_purge(backend: Backend) -> None:
    async def scenario(store: AuthStore) -> None:
        await store.add_events(
            [
                AuditEvent("alice", "push", "artifact", "team/app:v1", "team", time=100.0),
                AuditEvent("bob", "pull", "artifact", "team/app:v1", "team", time=200.0),
                AuditEvent("alice", "delete", "repository", "other/db", "other", time=300.0),
                AuditEvent("carl", "login", "user", "carl", time=400.0),
            ]
        )
        await store.add_events([])
        events, total = await store.list_events(AuditQuery(), Page(0, 2))
        assert ([e.time for e in events], total) == ([400.0, 300.0], 4)  # newest first
        assert events[0].id > 0
        events, total = await store.list_events(AuditQuery(), Page(3, 2))
        assert ([e.time for e in events], total) == ([100.0], 4)

        async def times(query: AuditQuery) -> list[float]:
            events, total = await store.list_events(query, Page(0, 10))
            assert total == len(events)
            return [e.time for e in events]

        assert await times(AuditQuery(project="team")) == [200.0, 100.0]
        assert await times(AuditQuery(username="alice")) == [300.0, 100.0]
        assert await times(AuditQuery(operation="delete")) == [300.0]
        assert await times(AuditQuery(resource="app:")) == [200.0, 100.0]  # substring
        assert await times(AuditQuery(since=200.0, until=300.0)) == [300.0, 200.0]
        assert await times(AuditQuery(project="team", username="bob")) == [200.0]

        assert await store.purge_events(250.0) == 2
        assert await store.purge_events(250.0) == 0
        assert await times(AuditQuery()) == [400.0, 300.0]

    run(backend, scenario)


def test_selective_purge_in_batches(backend: Backend) -> None:
    """Harbor's audit-log purge: events older than a time whose operation (any resource
    type) or operation and resource type are listed; counted (dry run) or deleted in
    batches, oldest first, each going on where the last one stopped."""

    async def scenario(store: AuthStore) -> None:
        events = [
            AuditEvent("u", "pull", "artifact", f"p/a:{i}", "p", time=float(i)) for i in range(7)
        ]
        events += [
            AuditEvent("u", "create", "artifact", "p/a:v", "p", time=10.0),
            AuditEvent("u", "CREATE", "project", "p", "p", time=11.0),
            AuditEvent("u", "delete", "replication_policy", "r/1", time=12.0),
            AuditEvent("u", "pull", "artifact", "p/a:new", "p", time=500.0),  # too new
        ]
        await store.add_events(events)

        nothing = AuditPurge(1000.0)
        assert nothing.empty
        assert await store.count_purgeable_events(nothing) == 0
        assert await store.purge_events_batch(nothing, 100) == (0, None)

        pulls = AuditPurge(100.0, operations=("PULL",))
        assert await store.count_purgeable_events(pulls) == 7
        went, after = await store.purge_events_batch(pulls, 3)
        assert went == 3 and after is not None and after.time == 2.0
        left, _ = await store.list_events(AuditQuery(operation="pull"), Page(0, 20))
        assert sorted(e.time for e in left) == [3.0, 4.0, 5.0, 6.0, 500.0]  # oldest went first
        went, after = await store.purge_events_batch(pulls, 3, after)
        assert went == 3 and after is not None and after.time == 5.0
        assert await store.purge_events_batch(pulls, 3, after) == (1, None)  # the last
        assert await store.purge_events_batch(pulls, 3) == (0, None)
        assert await store.count_purgeable_events(pulls) == 0

        typed = AuditPurge(
            100.0, event_types=(("create", "project"), ("delete", "replication_policy"))
        )
        assert await store.count_purgeable_events(typed) == 2  # not create_artifact
        assert await store.purge_events_batch(typed, 100) == (2, None)
        both = AuditPurge(1000.0, operations=("pull",), event_types=(("create", "artifact"),))
        assert await store.count_purgeable_events(both) == 2
        assert await store.purge_events_batch(both, 100) == (2, None)
        assert (await store.list_events(AuditQuery(), Page(0, 10)))[1] == 0

        # a cursor passes over what it skipped: events at the same time, and ones that
        # appear behind it, are left for the next purge
        await store.add_events([AuditEvent("u", "pull", "x", f"r{i}", time=50.0) for i in range(5)])
        same = AuditPurge(100.0, operations=("pull",))
        went, after = await store.purge_events_batch(same, 2)
        assert went == 2 and after is not None and after.time == 50.0
        await store.add_events([AuditEvent("u", "pull", "x", "behind", time=1.0)])
        went, after = await store.purge_events_batch(same, 2, after)
        assert went == 2 and after is not None
        assert await store.purge_events_batch(same, 2, after) == (1, None)
        assert await store.count_purgeable_events(same) == 1  # the one behind the cursor
        assert await store.purge_events_batch(same, 2) == (1, None)

        # the retention purge: every event older than the time, whatever it is
        await store.add_events([AuditEvent("u", op, "x", "r", time=t) for op, t in events_at])
        older = AuditPurge(35.0, everything=True)
        assert not older.empty and await store.count_purgeable_events(older) == 3
        went, after = await store.purge_events_batch(older, 2)
        assert went == 2 and after is not None
        assert await store.purge_events_batch(older, 2, after) == (1, None)
        assert (await store.list_events(AuditQuery(), Page(0, 10)))[1] == 1

    events_at = [("pull", 10.0), ("login", 20.0), ("gc", 30.0), ("pull", 40.0)]
    run(backend, scenario)


# --- signing keys -----------------------------------------------------------------------
def test_signing_keys(backend: Backend) -> None:
    async def scenario(store: AuthStore) -> None:
        assert await store.signing_keys() == []
        old = SigningKey("k1", "RS256", "private1", "public1", 100.0)
        new = SigningKey("k2", "ES256", "private2", "public2", 200.0, active=False)
        await store.add_signing_key(old)
        await store.add_signing_key(new)
        await store.add_signing_key(SigningKey("k1", "RS256", "other", "other", 300.0))
        assert await store.signing_keys() == [new, old]  # newest first; k1 kept as it was

    run(backend, scenario)


# --- concurrency ------------------------------------------------------------------------
def test_many_tasks_writing_at_once(backend: Backend) -> None:
    async def scenario(store: AuthStore) -> None:
        async def one(i: int) -> None:
            user = await store.create_user(User(f"user{i}"))
            project = await store.create_project(Project(f"project{i}"))
            await store.add_member(Member(project.id, user.id, Role.DEVELOPER))
            await store.add_events([AuditEvent(f"user{i}", "create", "project", f"project{i}")])

        async def racer() -> bool:
            try:
                await store.create_user(User("same"))
            except Conflict:
                return False
            return True

        await asyncio.gather(*(one(i) for i in range(40)))
        won = await asyncio.gather(*(racer() for _ in range(10)))
        assert won.count(True) == 1
        assert (await store.list_users(None, Page(0, 1)))[1] == 41
        assert (await store.list_events(AuditQuery(), Page(0, 1)))[1] == 40
        user = await store.get_user("user7")
        assert user is not None
        assert await store.memberships(user.id) == {"project7": Role.DEVELOPER}

    run(backend, scenario)


def test_user_access_is_the_user_their_roles_and_the_public_projects(backend: Backend) -> None:
    async def scenario(store: AuthStore) -> None:
        assert await store.user_access("carol") is None
        carol = await store.create_user(User("carol", email="c@x"))
        await store.create_user(User("dave"))
        assert await store.user_access("carol") == (carol, {}, frozenset())
        team = await store.create_project(Project("team"))
        await store.create_project(Project("library", public=True))
        public = await store.create_project(Project("open", public=True))
        await store.add_member(Member(team.id, carol.id, Role.DEVELOPER))
        await store.add_member(Member(public.id, carol.id, Role.GUEST))
        found = await store.user_access("carol")
        assert found == (
            carol,
            {"team": Role.DEVELOPER, "open": Role.GUEST},
            frozenset({"library", "open"}),
        )
        assert found[1] == await store.memberships(carol.id)
        dave = await store.user_access("dave")
        assert dave is not None and dave[1] == {} and dave[2] == frozenset({"library", "open"})

    run(backend, scenario)


def test_a_write_lock_elsewhere_does_not_stall_the_event_loop(backend: Backend) -> None:
    async def scenario(store: AuthStore) -> None:
        await store.create_user(User("alice"))
        with backend.write_locked_elsewhere(2.0):
            ticks: list[float] = []

            async def ticker() -> None:
                while True:
                    ticks.append(time.monotonic())
                    await asyncio.sleep(0.01)

            ticking = asyncio.create_task(ticker())
            write = asyncio.create_task(store.create_user(User("bob")))
            await asyncio.sleep(0.1)
            assert not write.done()
            assert await store.get_user("alice") is not None  # reads go on
            await write
            ticking.cancel()
        assert await store.get_user("bob") is not None
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert len(ticks) > 40
        assert max(gaps) < 0.5, max(gaps)

    run(backend, scenario)
