"""The Redis backend: generations over pub/sub, leader locks with a lease, login limits.

Cache invalidation across replicas, and why a cached read never serves a lookup that was
invalidated before the reader's request started:

- A write bumps its own process's counter, PUBLISHes the repository name, then waits
  ``window`` seconds before returning (so before the client sees the write succeed).
- Every process holds one subscription. Each message increments the local counter of the
  repository's slot. Every ``window / 5`` the process PINGs on the subscription connection;
  Redis answers in order with the messages, so when the PONG of a ping sent at time T
  arrives, every message published before T has been applied.
- A lookup may use (or fill) the cache only while the last answered ping was sent less
  than ``window`` ago; otherwise ``current`` is None and the lookup goes to the database.
  A write that completed before the reader's request started published more than
  ``window`` before the check, hence before that ping: its message was applied.
- (Re)subscribing starts a new epoch that invalidates every entry (messages sent while
  unsubscribed were missed). Publishes that failed are re-sent once Redis answers again,
  for the replicas that never lost their own subscription.

So the hot path costs a clock read, never a round trip; a lagging or broken subscription
turns the cache off until it catches up. Writes pay ``window`` of latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import time
import uuid
from typing import Any

from redis.asyncio import Redis

from wharf.coord.generations import SLOTS, Generations, slot_of
from wharf.coord.leader import LeaderLock
from wharf.coord.ratelimit import LoginLimiter, LoginLimits

log = logging.getLogger("wharf.coord")

PREFIX = "wharf:"
CHANNEL = PREFIX + "generations"
NEVER = -math.inf
CLOSE_TIMEOUT = 2.0  # seconds a subscription's connection gets to close


class _OutageLog:
    """One warning when Redis stops answering for one purpose, then at most one a minute;
    one info line when it answers again."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.down = False
        self._last = NEVER

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if not self.down or now - self._last >= 60:
            log.warning(
                f"redis unreachable: {self.what}", extra={"error": f"{type(exc).__name__}: {exc}"}
            )
            self._last = now
        self.down = True

    def ok(self) -> None:
        if self.down:
            log.info(f"redis reachable again: {self.what} restored")
            self.down = False


class RedisGenerations(Generations):
    def __init__(self, client: Redis, *, window: float = 0.25, channel: str = CHANNEL) -> None:
        self._client = client
        self._channel = channel
        self.window = window
        self._ping_every = window / 5
        self._counters = [0] * SLOTS
        self._epoch = 0
        self._acked = NEVER  # monotonic time a ping was sent whose PONG has arrived
        self._pending: set[str] = set()  # repositories whose PUBLISH failed
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._outage = _OutageLog("cache of manifest lookups bypassed, reads go to the database")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen())

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self._acked <= self.window

    def current(self, repo: str) -> int | None:
        if time.monotonic() - self._acked > self.window:
            return None
        return (self._epoch << 48) | self._counters[slot_of(repo)]

    async def bump(self, repo: str) -> None:
        self._counters[slot_of(repo)] += 1  # this process sees it at once
        try:
            await self._client.publish(self._channel, repo)
        except Exception as exc:
            self._pending.add(repo)
            self._outage.failed(exc)
        await asyncio.sleep(self.window)

    def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
        self._acked = NEVER

    async def wait_closed(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _listen(self) -> None:
        backoff = 0.05
        # the flag as well as the cancel: on Python 3.11 a cancel that lands as an awaited
        # close finishes can be swallowed, and the loop would go on for ever (seen as a
        # close() that never returned)
        while not self._closing:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                self._epoch += 1  # what was published while unsubscribed is lost: start over
                while self._pending:
                    repo = next(iter(self._pending))
                    await self._client.publish(self._channel, repo)
                    self._pending.discard(repo)
                backoff = 0.05
                next_ping = 0.0
                while True:
                    now = time.monotonic()
                    if now >= next_ping:
                        await pubsub.ping(repr(now))
                        next_ping = now + self._ping_every
                    timeout = max(0.0, next_ping - time.monotonic())
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=timeout
                    )
                    if message is not None:
                        self._receive(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._acked = NEVER
                self._outage.failed(exc)
            finally:
                # bounded: a pub/sub connection cancelled mid-read can leave aclose()
                # waiting forever, and with it close() and the process's shutdown (seen
                # as test_coord hanging in its teardown)
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(CLOSE_TIMEOUT):
                        await asyncio.shield(pubsub.aclose())  # type: ignore[no-untyped-call]
            if self._closing:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    def _receive(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        if isinstance(data, bytes):
            data = data.decode()
        if message.get("type") == "message" and isinstance(data, str):
            self._counters[slot_of(data)] += 1
        elif message.get("type") == "pong" and isinstance(data, str):
            try:
                sent = float(data)
            except ValueError:
                return  # the client library's own health check
            if sent > self._acked:
                if self._acked == NEVER:
                    self._outage.ok()
                self._acked = sent


_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLeaderLock(LeaderLock):
    """SET NX PX to take the lock, a compare-and-PEXPIRE to renew it (every ttl / 3 through
    `run_on_leader`). Redis unreachable: nobody leads (acquire answers False)."""

    def __init__(self, client: Redis, name: str, *, ttl: float = 30.0) -> None:
        self.name = name
        self.key = f"{PREFIX}leader:{name}"
        self.token = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex}"
        self._client = client
        self._ttl_ms = max(1, int(ttl * 1000))
        self._held = False
        self.renew_every = ttl / 3
        self._outage = _OutageLog(f"leader lock {name!r}: nobody leads, its jobs are skipped")

    async def acquire(self) -> bool:
        try:
            if self._held and await self._client.eval(
                _RENEW, 1, self.key, self.token, self._ttl_ms
            ):
                ok = True
            else:
                ok = bool(await self._client.set(self.key, self.token, nx=True, px=self._ttl_ms))
        except Exception as exc:
            self._outage.failed(exc)
            self.unreachable = True
            return False
        self._outage.ok()
        self.unreachable = False
        self._held = ok
        return ok

    async def release(self) -> None:
        if not self._held:
            return
        self._held = False
        with contextlib.suppress(Exception):
            await self._client.eval(_RELEASE, 1, self.key, self.token)


class RedisLoginLimiter(LoginLimiter):
    """Fixed windows counted with INCR + EXPIRE; Redis unreachable: fails open (logged)."""

    def __init__(self, client: Redis, limits: LoginLimits) -> None:
        super().__init__(limits)
        self._client = client
        self._outage = _OutageLog("login rate limit not enforced (fails open)")

    def _key(self, index: int, who: tuple[str, str]) -> str:
        digest = hashlib.sha256("\0".join(who).encode()).hexdigest()[:32]
        return f"{PREFIX}login:{index}:{digest}"

    async def blocked(self, username: str, client: str) -> float | None:
        counters = self.limits.counters(username, client)
        if not counters:
            return None
        index, left = self._window(time.time())
        try:
            values = await self._client.mget([self._key(index, who) for who, _ in counters])
        except Exception as exc:
            self._outage.failed(exc)
            return None
        self._outage.ok()
        for value, (_who, limit) in zip(values, counters, strict=True):
            if value is not None and int(value) >= limit:
                return left
        return None

    async def failed(self, username: str, client: str) -> None:
        counters = self.limits.counters(username, client)
        if not counters:
            return
        index, _ = self._window(time.time())
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                for who, _limit in counters:
                    key = self._key(index, who)
                    pipe.incr(key)
                    pipe.expire(key, math.ceil(self.limits.window) + 1)
                await pipe.execute()
        except Exception as exc:
            self._outage.failed(exc)
