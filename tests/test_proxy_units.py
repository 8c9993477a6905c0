"""The proxy cache's parts on their own: the per-blob lease across processes (flock on one
host, a Redis key across replicas, against a real redis-server), the directory of proxy
projects (cached until a generation bump), the gate rule refusing pushes, and a Fetch's
readers (from byte 0 while it grows, the last byte held until the store verified it, a
failure raised to every reader, the spool removed)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.services import RedisServer, start_redis, stop_redis
from wharf.coord import coordination
from wharf.coord.generations import InProcessGenerations
from wharf.proxy.directory import ProxyDirectory
from wharf.proxy.fetch import Fetch, produce
from wharf.proxy.service import ProxyCache
from wharf.registry.config import ProxyConfig
from wharf.registry.events import SYSTEM, Actor
from wharf.registry.policy.gate import (
    Deletion,
    PolicyRefused,
    ProxyCacheProjects,
    TagWrite,
    UploadCommit,
    UploadStart,
)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path / "redis")
    try:
        yield server
    finally:
        stop_redis(server)


def test_in_process_lease_is_exclusive_and_leaves_no_file(tmp_path: Path) -> None:
    async def main() -> None:
        coord = coordination.in_process(tmp_path / "run")
        first, second = coord.lease("pb.abc"), coord.lease("pb.abc")
        assert await first.acquire()
        assert not await second.acquire()  # another process would be refused alike
        assert coord.lease("pb.other").name == "pb.other"
        await first.release()
        assert not (tmp_path / "run" / "lease-pb.abc.lock").exists()
        assert await second.acquire()
        await second.release()
        with pytest.raises(ValueError):
            coord.lease("Bad Name")
        await coord.close()

    asyncio.run(main())


def test_redis_lease_across_replicas(redis_server: RedisServer) -> None:
    async def main() -> None:
        a = coordination.redis(redis_server.url, leader_ttl=2)
        b = coordination.redis(redis_server.url, leader_ttl=2)
        await a.start()
        await b.start()
        held, waiting = a.lease("pb.abc"), b.lease("pb.abc")
        assert await held.acquire()
        assert not await waiting.acquire()
        await held.release()
        assert await waiting.acquire()
        # a holder that dies (no renewal): the lease lapses with its TTL
        assert not await held.acquire()
        deadline = time.monotonic() + 20
        while not await held.acquire():
            assert time.monotonic() < deadline, "the lease never lapsed"
            await asyncio.sleep(0.1)
        assert not held.unreachable and not waiting.unreachable
        # Redis gone: a refusal that says nobody can tell, so the proxy fetches at once
        # instead of waiting fetch_wait for a holder that cannot exist
        stop_redis(redis_server)
        other = b.lease("pb.other")
        assert not await other.acquire()
        assert other.unreachable
        await a.close()
        await b.close()

    asyncio.run(main())


def test_directory_is_cached_until_a_project_changes() -> None:
    loads: list[int] = []
    projects = {"hub-proxy": 3}

    async def load() -> dict[str, int]:
        loads.append(1)
        return dict(projects)

    async def main() -> None:
        directory = ProxyDirectory(InProcessGenerations(), load)
        assert await directory.registry_of("hub-proxy") == 3
        assert not await directory.is_proxy("library")
        assert len(loads) == 1
        projects["other"] = 4
        assert not await directory.is_proxy("other")  # cached
        await directory.changed()
        assert await directory.registry_of("other") == 4
        assert len(loads) == 2

    asyncio.run(main())


def test_gate_refuses_pushes_of_clients_only() -> None:
    async def is_proxy(project: str) -> bool:
        return project == "hub-proxy"

    rule = ProxyCacheProjects(is_proxy, SYSTEM)
    alice = Actor("alice")

    async def main() -> None:
        for change in (
            UploadStart(alice, "hub-proxy/library/a"),
            UploadCommit(alice, "hub-proxy/library/a", "sha256:" + "0" * 64, 1),
            TagWrite(alice, "hub-proxy/library/a", "v1", "sha256:" + "0" * 64, None),
        ):
            with pytest.raises(PolicyRefused, match="hub-proxy is a proxy cache project"):
                await rule.check(change)
        await rule.check(UploadStart(SYSTEM, "hub-proxy/library/a"))  # the proxy itself
        await rule.check(UploadStart(alice, "library/a"))  # another project
        await rule.check(Deletion(alice, "manifest", "hub-proxy/library/a", "sha256:0"))

    asyncio.run(main())


def run_fetch(
    tmp_path: Path, pieces: list[bytes], fail: Exception | None
) -> tuple[Fetch, list[bytes], list[BaseException]]:
    """A fetch of ``pieces`` (then ``fail`` from the store, if given) with two readers,
    one joining before the first byte, one after half; what each got."""
    got: list[bytes] = [b"", b""]
    errors: list[BaseException] = []

    async def main() -> Fetch:
        fetch = Fetch(tmp_path / "spool")
        release = asyncio.Event()
        half = asyncio.Event()

        @asynccontextmanager
        async def upstream() -> AsyncIterator[tuple[int | None, AsyncIterator[bytes]]]:
            async def chunks() -> AsyncIterator[bytes]:
                for n, piece in enumerate(pieces):
                    if n == len(pieces) // 2:
                        half.set()
                        await release.wait()
                    yield piece

            yield sum(map(len, pieces)), chunks()

        async def store(chunks: AsyncIterator[bytes]) -> None:
            async for _ in chunks:
                pass
            if fail is not None:
                raise fail

        async def read(n: int, reader: AsyncIterator[bytes]) -> None:
            try:
                async for data in reader:
                    got[n] += data
            except Exception as exc:
                errors.append(exc)

        producer = asyncio.create_task(produce(fetch, upstream, store))
        await fetch.wait_started()
        first = asyncio.create_task(read(0, fetch.reader()))
        await half.wait()
        await asyncio.sleep(0.05)
        # all but the last byte may have gone out; never the whole blob before the end
        assert len(got[0]) < sum(map(len, pieces))
        second = asyncio.create_task(read(1, fetch.reader()))
        release.set()
        await asyncio.gather(producer, first, second)
        return fetch

    fetch = asyncio.run(main())
    return fetch, got, errors


def test_fetch_readers_get_every_byte(tmp_path: Path) -> None:
    pieces = [bytes([n]) * 1000 for n in range(10)]
    fetch, got, errors = run_fetch(tmp_path, pieces, None)
    assert errors == [] and fetch.error is None
    assert got == [b"".join(pieces)] * 2
    assert not (tmp_path / "spool").exists()


def test_fetch_failure_reaches_readers_without_the_last_byte(tmp_path: Path) -> None:
    pieces = [bytes([n]) * 1000 for n in range(10)]
    fetch, got, errors = run_fetch(tmp_path, pieces, ValueError("digest mismatch"))
    assert isinstance(fetch.error, ValueError)
    assert len(errors) == 2 and all("digest mismatch" in str(e) for e in errors)
    assert all(len(body) < 10_000 for body in got)
    assert not (tmp_path / "spool").exists()


def test_stale_spools_are_purged_at_start(tmp_path: Path) -> None:
    spools = tmp_path / "spool"
    spools.mkdir()
    old, live = spools / "old.blob", spools / "live.blob"
    old.write_bytes(b"x")
    live.write_bytes(b"y")
    os.utime(old, (time.time() - 7200, time.time() - 7200))

    async def main() -> None:
        cache = ProxyCache(
            None,  # type: ignore[arg-type]  # start() touches only the spool directory
            ProxyDirectory(InProcessGenerations(), dict),  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            ProxyConfig(),
            spools,
        )
        await cache.start()
        await cache.close()

    asyncio.run(main())
    assert not old.exists() and live.exists()
