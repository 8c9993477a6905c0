"""The coordination layer one process holds: its generations, leader locks and login
limiter, from one backend. `in_process` (the default: one host, files under the run
directory) or `redis` (every replica through one Redis)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from wharf.coord.generations import Generations, SharedGenerations
from wharf.coord.leader import FileLeaderLock, LeaderLock
from wharf.coord.ratelimit import InProcessLoginLimiter, LoginLimiter, LoginLimits

_LOCK_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass
class Coordination:
    backend: str  # "in-process" or "redis"
    generations: Generations
    login_limiter: LoginLimiter
    _make_lock: Callable[[str], LeaderLock]
    _make_lease: Callable[[str], LeaderLock] | None = None
    _start: Callable[[], None] = lambda: None
    _close: Callable[[], Awaitable[None]] | None = None
    _ping: Callable[[], Awaitable[object]] | None = None
    _locks: dict[str, LeaderLock] = field(default_factory=dict)

    def leader_lock(self, name: str) -> LeaderLock:
        """The lock named ``name`` (one per name and process)."""
        if not _LOCK_NAME.match(name):
            raise ValueError(f"bad leader lock name {name!r}")
        if name not in self._locks:
            self._locks[name] = self._make_lock(name)
        return self._locks[name]

    def lease(self, name: str) -> LeaderLock:
        """A fresh lock named ``name`` for a short task (not kept by this object: the
        caller releases it when done). Contenders for the same name, in any process or
        replica, hold it one at a time; a holder that dies loses it (flock / Redis TTL)."""
        if not _LOCK_NAME.match(name):
            raise ValueError(f"bad lock name {name!r}")
        make = self._make_lease or self._make_lock
        return make(name)

    async def start(self) -> None:
        """Inside the running event loop: start listening (Redis)."""
        self._start()

    async def ping(self) -> None:
        """One round trip to the shared backend (Redis); raises when it does not answer
        within its timeout. In-process: nothing to reach."""
        if self._ping is not None:
            await self._ping()

    async def close(self) -> None:
        """Release the locks, stop listening, close connections. Generations are closed by
        whoever closes the content core that uses them."""
        for lock in self._locks.values():
            await lock.release()
        self.generations.close()
        if self._close is not None:
            await self._close()


def in_process(run_dir: Path, limits: LoginLimits | None = None) -> Coordination:
    """One host: counters in an mmap'ed file shared by its worker processes, leader locks as
    flocks (one worker of the host leads), login failures counted per process."""
    return Coordination(
        backend="in-process",
        generations=SharedGenerations(run_dir / "generations"),
        login_limiter=InProcessLoginLimiter(limits or LoginLimits()),
        _make_lock=lambda name: FileLeaderLock(run_dir / f"leader-{name}.lock", name),
        _make_lease=lambda name: FileLeaderLock(run_dir / f"lease-{name}.lock", name, unlink=True),
    )


def redis(
    url: str,
    *,
    limits: LoginLimits | None = None,
    window: float = 0.25,
    leader_ttl: float = 30.0,
    timeout: float = 1.0,
) -> Coordination:
    """Every replica through the Redis at ``url`` (redis://, rediss:// or unix://)."""
    from redis.asyncio import Redis

    from wharf.coord.redis_backend import RedisGenerations, RedisLeaderLock, RedisLoginLimiter

    client = Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # bytes: redis-py mis-parses a PONG with a payload on a subscription when decoding
        decode_responses=False,
    )
    generations = RedisGenerations(client, window=window)

    async def close() -> None:
        generations.close()
        await generations.wait_closed()
        await client.aclose()

    return Coordination(
        backend="redis",
        generations=generations,
        login_limiter=RedisLoginLimiter(client, limits or LoginLimits()),
        _make_lock=lambda name: RedisLeaderLock(client, name, ttl=leader_ttl),
        _start=generations.start,
        _close=close,
        _ping=client.ping,
    )
