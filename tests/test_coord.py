"""The coordination layer (wharf.coord): cache invalidation across replicas through Redis,
with Redis killed and restarted; leader locks; login limits (429) and the replica label of
/metrics, against a real throwaway redis-server."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from wharf.coord import coordination
from wharf.coord.coordination import Coordination
from wharf.coord.jobs import run_on_leader
from wharf.coord.leader import FileLeaderLock, LeaderLock
from wharf.coord.ratelimit import InProcessLoginLimiter, LoginLimiter, LoginLimits
from wharf.coord.redis_backend import RedisGenerations
from wharf.registry.config import ConfigError, load_settings
from wharf.registry.content.service import ContentService
from wharf.registry.metadata.sqlite import SQLiteStore
from wharf.registry.wiring import make_coordination, sqlite_database
from wharf.storage.filesystem import FilesystemDriver

from .helpers import run_wharf
from .services import RedisServer, needs_redis, restart_redis, start_redis, stop_redis
from .test_core_policy_events import ALICE, push_image

WINDOW = 0.2  # invalidation window of the Redis generations in these tests


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path / "redis")
    try:
        yield server
    finally:
        stop_redis(server)


def run_bounded(main: Coroutine[Any, Any, None], within: float = 120.0) -> None:
    """asyncio.run, but a hang fails within ``within`` seconds with every task's stack in
    the message (one hang of the tag-move test under heavy load is still unexplained)."""

    async def bounded() -> None:
        task = asyncio.ensure_future(main)
        done, _ = await asyncio.wait({task}, timeout=within)
        if not done:
            stacks = io.StringIO()
            for other in asyncio.all_tasks():
                other.print_stack(file=stacks)
            task.cancel()
            pytest.fail(f"hung for {within} s; tasks:\n{stacks.getvalue()}")
        task.result()

    asyncio.run(bounded())


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


class Replica:
    """One content core with its own store connections, cache and Redis subscription, and
    a count of the tag lookups that reached the database."""

    def __init__(self, core: ContentService, coord: Coordination) -> None:
        self.core = core
        self.coord = coord
        self.db_reads = 0
        store = core.manifests.store
        original = store.resolve_tag

        async def counted(repo: str, tag: str) -> Any:
            self.db_reads += 1
            return await original(repo, tag)

        store.resolve_tag = counted  # type: ignore[method-assign]

    @property
    def generations(self) -> RedisGenerations:
        assert isinstance(self.coord.generations, RedisGenerations)
        return self.coord.generations

    async def tag(self, tag: str) -> str:
        return (await self.core.manifests.get("p/app", tag, ALICE)).record.digest


@asynccontextmanager
async def replicas(tmp_path: Path, url: str, count: int = 2) -> AsyncIterator[list[Replica]]:
    made: list[Replica] = []
    try:
        for _ in range(count):
            coord = coordination.redis(url, window=WINDOW, timeout=0.5)
            await coord.start()
            store = SQLiteStore(sqlite_database(tmp_path / "meta.db"))
            await store.open()
            driver = FilesystemDriver(tmp_path / "storage")
            await driver.start()
            core = ContentService(store, driver, generations=coord.generations)
            made.append(Replica(core, coord))
        for replica in made:
            await eventually(lambda r=replica: r.generations.fresh)  # type: ignore[misc]
        yield made
    finally:
        for replica in made:
            replica.core.close()
            await replica.coord.close()
            await replica.core.driver.close()
            await replica.core.store.close()


@needs_redis
def test_replicas_see_each_others_tag_moves_at_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def main() -> None:
        async with replicas(tmp_path, redis_server.url) as (a, b):
            first = await push_image(a.core, "p/app", "v1", b"one")
            assert await b.tag("v1") == first
            reads = b.db_reads
            assert await b.tag("v1") == first
            assert b.db_reads == reads, "the second lookup is served from b's cache"
            commands = 0
            client = b.generations._client
            send = client.execute_command

            async def counted(*args: Any, **kwargs: Any) -> Any:
                nonlocal commands
                commands += 1
                return await send(*args, **kwargs)  # type: ignore[no-untyped-call]

            client.execute_command = counted  # type: ignore[method-assign]
            for _ in range(50):
                assert await b.tag("v1") == first
            assert commands == 0 and b.db_reads == reads, "cached reads: no round trip"
            for n in range(5):  # every move is visible on b as soon as a's push returned
                moved = await push_image(a.core, "p/app", "v1", b"layer %d" % n)
                assert await b.tag("v1") == moved
                assert await a.tag("v1") == moved
            await b.core.manifests.delete("p/app", "v1", ALICE)
            with pytest.raises(Exception, match="manifest unknown"):
                await a.tag("v1")

    run_bounded(main())


@needs_redis
def test_redis_killed_lookups_stay_correct_then_cache_comes_back(
    tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with replicas(tmp_path, redis_server.url) as (a, b):
            first = await push_image(a.core, "p/app", "v1", b"one")
            assert await b.tag("v1") == first
            stop_redis(redis_server)  # SIGKILL
            await eventually(lambda: not b.generations.fresh and not a.generations.fresh)
            # while Redis is down: a moves the tag; b never serves the old one
            moved = await push_image(a.core, "p/app", "v1", b"two")
            reads = b.db_reads
            for _ in range(3):
                assert await b.tag("v1") == moved
                assert await a.tag("v1") == moved
            assert b.db_reads == reads + 3, "every lookup went to the database"
            restart_redis(redis_server)
            await eventually(lambda: a.generations.fresh and b.generations.fresh)
            assert await b.tag("v1") == moved
            reads = b.db_reads
            assert await b.tag("v1") == moved
            assert b.db_reads == reads, "the cache is used again"
            again = await push_image(a.core, "p/app", "v1", b"three")
            assert await b.tag("v1") == again

    with caplog.at_level("INFO", logger="wharf.coord"):
        run_bounded(main())
    assert "redis unreachable: cache of manifest lookups bypassed" in caplog.text
    assert "redis reachable again" in caplog.text


@needs_redis
def test_a_lagging_subscription_turns_the_cache_off(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def main() -> None:
        async with replicas(tmp_path, redis_server.url, count=1) as (a,):
            await push_image(a.core, "p/app", "v1", b"one")
            await a.tag("v1")
            assert a.generations.current("p/app") is not None
            # the event loop is stuck (the point of the test): no pong can be read meanwhile
            time.sleep(WINDOW * 1.5)  # noqa: ASYNC251
            assert a.generations.current("p/app") is None
            reads = a.db_reads
            await a.tag("v1")
            assert a.db_reads == reads + 1
            await eventually(lambda: a.generations.fresh)

    run_bounded(main())


_HOLDER = """
import asyncio, sys
from redis.asyncio import Redis
from wharf.coord.redis_backend import RedisLeaderLock

async def main():
    lock = RedisLeaderLock(Redis.from_url(sys.argv[1]), "job", ttl=float(sys.argv[2]))
    print("leading" if await lock.acquire() else "not leading", flush=True)
    while True:
        await asyncio.sleep(0.1)
        await lock.acquire()

asyncio.run(main())
"""


@needs_redis
def test_redis_leader_lock_is_taken_over_after_the_holder_dies(
    redis_server: RedisServer,
) -> None:
    ttl = 1.0
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, redis_server.url, str(ttl)],
        stdout=subprocess.PIPE,
        text=True,
    )

    async def main() -> None:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "leading"
        coord = coordination.redis(redis_server.url, leader_ttl=ttl)
        lock = coord.leader_lock("job")
        try:
            for _ in range(5):  # the holder renews: its lease never runs out
                assert not await lock.acquire()
                await asyncio.sleep(ttl / 2)
            holder.kill()
            holder.wait()
            killed = time.monotonic()
            for _ in range(100):
                if await lock.acquire():
                    break
                await asyncio.sleep(0.05)
            assert time.monotonic() - killed <= ttl + 0.5
            assert await lock.acquire()  # renewal
        finally:
            await coord.close()

    try:
        run_bounded(main())
    finally:
        holder.kill()
        holder.wait()


@needs_redis
def test_leader_lock_without_redis_means_nobody_leads(redis_server: RedisServer) -> None:
    async def main() -> None:
        coord = coordination.redis(redis_server.url, leader_ttl=3, timeout=0.5)
        lock = coord.leader_lock("job")
        try:
            assert await lock.acquire()
            stop_redis(redis_server)
            assert not await lock.acquire()
            restart_redis(redis_server)  # an empty Redis: the lock is free, retaken
            assert await lock.acquire()
        finally:
            await coord.close()

    run_bounded(main())


async def _run_jobs(locks: list[LeaderLock], counts: list[int]) -> list[asyncio.Task[None]]:
    def job(i: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            counts[i] += 1

        return run

    return [
        asyncio.create_task(run_on_leader(lock, 0.05, job(i), check_every=0.05))
        for i, lock in enumerate(locks)
    ]


@needs_redis
def test_periodic_job_runs_on_the_leader_only(redis_server: RedisServer) -> None:
    async def main() -> None:
        coords = [coordination.redis(redis_server.url, leader_ttl=3) for _ in range(2)]
        counts = [0, 0]
        tasks = await _run_jobs([c.leader_lock("gc") for c in coords], counts)
        try:
            await eventually(lambda: max(counts) >= 3)
            assert min(counts) == 0, "one replica runs the job"
            leader = counts.index(max(counts))
            tasks[leader].cancel()  # the leader stops: it releases, the other takes over
            await asyncio.gather(tasks[leader], return_exceptions=True)
            await eventually(lambda: counts[1 - leader] >= 2)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for coord in coords:
                await coord.close()

    run_bounded(main())


def test_file_leader_lock_one_worker_of_the_host_leads(tmp_path: Path) -> None:
    path = tmp_path / "run" / "leader-job.lock"
    first = FileLeaderLock(path, "job")
    second = FileLeaderLock(path, "job")

    async def contend() -> None:
        assert await first.acquire()
        assert await first.acquire()
        assert not await second.acquire()
        await first.release()
        assert await second.acquire()
        await second.release()

    asyncio.run(contend())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import asyncio, sys, time\n"
            "from pathlib import Path\n"
            "from wharf.coord.leader import FileLeaderLock\n"
            "lock = FileLeaderLock(Path(sys.argv[1]), 'job')\n"
            "print(asyncio.run(lock.acquire()), flush=True)\n"
            "time.sleep(60)\n",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        assert not asyncio.run(first.acquire())
        holder.kill()  # a dead holder's flock goes with it
        holder.wait()
        assert asyncio.run(first.acquire())
    finally:
        holder.kill()
        holder.wait()
        asyncio.run(first.release())


def test_in_process_login_limiter_counts_failures_per_user_and_address() -> None:
    async def main() -> None:
        limiter = InProcessLoginLimiter(LoginLimits(limit=2, window=0.5))
        await eventually(lambda: time.time() % 0.5 < 0.3)  # room to fail twice in a window
        for _ in range(2):
            assert await limiter.blocked("bob", "10.0.0.1") is None
            await limiter.failed("bob", "10.0.0.1")
        wait = await limiter.blocked("bob", "10.0.0.1")
        assert wait is not None and 0 < wait <= 0.5
        assert await limiter.blocked("bob", "10.0.0.2") is None
        assert await limiter.blocked("carol", "10.0.0.1") is None
        await asyncio.sleep(wait)
        assert await limiter.blocked("bob", "10.0.0.1") is None

    run_bounded(main())


async def _spraying(limiter: LoginLimiter) -> None:
    """One address trying many usernames is stopped by the per-address limit, while the
    same usernames from elsewhere are not."""
    await eventually(lambda: time.time() % 2 < 1)  # room to fail four times in a window
    for name in ("u1", "u2", "u3"):
        assert await limiter.blocked(name, "10.0.0.9") is None
        await limiter.failed(name, "10.0.0.9")
    assert await limiter.blocked("u4", "10.0.0.9") is None
    await limiter.failed("u4", "10.0.0.9")
    assert await limiter.blocked("u5", "10.0.0.9") is not None  # 4 failures from there
    assert await limiter.blocked("u5", "10.0.0.8") is None
    assert await limiter.blocked("u1", "10.0.0.8") is None


def test_in_process_login_limiter_per_address() -> None:
    limits = LoginLimits(limit=10, window=2, per_address=4)
    asyncio.run(_spraying(InProcessLoginLimiter(limits)))


@needs_redis
def test_redis_login_limiter_per_address(redis_server: RedisServer) -> None:
    async def main() -> None:
        limits = LoginLimits(limit=10, window=2, per_address=4)
        coord = coordination.redis(redis_server.url, limits=limits)
        await coord.start()
        try:
            await _spraying(coord.login_limiter)
        finally:
            await coord.close()

    run_bounded(main())


def test_redis_settings_are_validated(tmp_path: Path) -> None:
    settings = load_settings(environ={"WHARF_REDIS__URL": "redis://127.0.0.1:16379/2"})
    assert settings.redis.url == "redis://127.0.0.1:16379/2"
    assert load_settings(environ={}).redis.url is None
    config = tmp_path / "wharf.yml"
    config.write_text("redis: null\nreplica_name: node-a\n")
    loaded = load_settings(config, environ={})
    assert loaded.redis.url is None and loaded.replica == "node-a"
    with pytest.raises(ConfigError, match=r"redis\.url.*WHARF_REDIS__URL"):
        load_settings(environ={"WHARF_REDIS__URL": "http://127.0.0.1:6379"})
    with pytest.raises(ConfigError, match=r"redis\.invalidation_window"):
        load_settings(environ={"WHARF_REDIS__INVALIDATION_WINDOW": "0"})
    in_process = make_coordination(load_settings(environ={"WHARF_DATA_DIR": str(tmp_path)}))
    assert in_process.backend == "in-process"
    in_process.generations.close()


# --- through the HTTP surfaces: two replicas on one Redis ------------------------------

PASSWORD = "Admin-Pass-1"


def _replica_env(url: str, name: str) -> dict[str, str]:
    return {
        "WHARF_ADMIN_PASSWORD": PASSWORD,
        "WHARF_REDIS__URL": url,
        "WHARF_REPLICA_NAME": name,
        "WHARF_AUTH__LOGIN_FAILURE_LIMIT": "3",
        "WHARF_AUTH__LOGIN_FAILURE_WINDOW": "3",
    }


@needs_redis
def test_login_limit_across_replicas_429_then_reset_and_replica_label(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    data = tmp_path / "data"
    with (
        run_wharf(data, auth=True, env=_replica_env(redis_server.url, "node-a")) as a,
        run_wharf(data, auth=True, env=_replica_env(redis_server.url, "node-b")) as b,
    ):
        # start of a fresh window, so that the failures below all fall into one
        while time.time() % 3 > 0.5:
            time.sleep(0.05)
        bad = ("admin", "wrong")
        assert requests.get(f"{a.url}/v2/", auth=bad, timeout=10).status_code == 401
        assert requests.get(f"{b.url}/service/token", auth=bad, timeout=10).status_code == 401
        r = requests.get(f"{a.url}/api/v2.0/projects", auth=bad, timeout=10)
        assert r.status_code == 401
        # the fourth attempt on any replica, even with the right password: 429
        r = requests.get(f"{b.url}/v2/", auth=("admin", PASSWORD), timeout=10)
        assert r.status_code == 429, r.text
        assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert 1 <= int(r.headers["Retry-After"]) <= 3
        r = requests.get(f"{a.url}/service/token", auth=bad, timeout=10)
        assert r.status_code == 429 and r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        form = {"grant_type": "password", "client_id": "t", "username": "admin", "password": "x"}
        r = requests.post(f"{a.url}/service/token", data=form, timeout=10)
        assert r.status_code == 429
        r = requests.get(f"{b.url}/api/v2.0/projects", auth=("admin", PASSWORD), timeout=10)
        assert r.status_code == 429 and r.json()["errors"][0]["code"] == "TOO_MANY_REQUEST"
        # another username from the same address is not affected
        r = requests.get(f"{a.url}/v2/", auth=("someone", "wrong"), timeout=10)
        assert r.status_code == 401
        # the window ends: the right password works again
        time.sleep(int(r.headers.get("Retry-After", "0")) + 3 - time.time() % 3 + 0.1)
        assert requests.get(f"{a.url}/v2/", auth=("admin", PASSWORD), timeout=10).ok
        # /metrics per replica, labelled
        for server, name in ((a, "node-a"), (b, "node-b")):
            text = requests.get(f"{server.url}/metrics", timeout=10).text
            assert f'wharf_workers{{replica="{name}"}} 1' in text
            series = rf'^wharf_http_requests_total\{{endpoint="base",.*,replica="{name}"\}} \d+$'
            assert re.search(series, text, re.M), text
        # Redis down: the limit fails open (logged), logins keep working
        stop_redis(redis_server)
        for _ in range(5):
            r = requests.get(f"{a.url}/v2/", auth=bad, timeout=10)
            assert r.status_code == 401
        assert requests.get(f"{a.url}/v2/", auth=("admin", PASSWORD), timeout=10).ok
        assert "login rate limit not enforced (fails open)" in a.log()
