"""Per-repository change counters ("generations") that validate cached lookups.

A cached lookup stores the generation read *before* its database query and is valid while
the repository's generation still reads the same. ``current`` may answer None: the counters
cannot vouch for freshness right now (Redis unreachable or its messages lagging), and the
caller must not use or fill its cache.

- `InProcessGenerations`: one process (tests, tools).
- `SharedGenerations`: the worker processes of one host, through a memory-mapped file.
- `RedisGenerations` (in ``redis_backend``): every replica, through Redis pub/sub.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import zlib
from abc import ABC, abstractmethod
from pathlib import Path

SLOTS = 4096
_COUNTER = struct.Struct("=Q")


def slot_of(repo: str) -> int:
    return zlib.crc32(repo.encode()) % SLOTS


class Generations(ABC):
    """Per-repository change counters."""

    @abstractmethod
    def current(self, repo: str) -> int | None:
        """The repository's generation, read without I/O; None: bypass the cache."""

    @abstractmethod
    async def bump(self, repo: str) -> None:
        """After a write to ``repo`` commits. Returns once no reader anywhere whose request
        starts afterwards can still be served an entry validated by an older generation."""

    @abstractmethod
    def close(self) -> None:
        """Release what the counters hold (a mapping, a file, a subscription)."""


class InProcessGenerations(Generations):
    def __init__(self) -> None:
        self._counters = [0] * SLOTS

    def close(self) -> None:
        self._counters = [0] * SLOTS

    def current(self, repo: str) -> int:
        return self._counters[slot_of(repo)]

    async def bump(self, repo: str) -> None:
        self.bump_now(repo)

    def bump_now(self, repo: str) -> None:
        self._counters[slot_of(repo)] += 1


class SharedGenerations(Generations):
    """Counters in a file every worker maps; increments hold an fcntl lock on the slot so
    two writers never lose one (a lost increment could let a stale entry look valid)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        size = SLOTS * _COUNTER.size
        if os.fstat(self._fd).st_size < size:
            os.ftruncate(self._fd, size)
        self._map: mmap.mmap | None = mmap.mmap(self._fd, size)

    def current(self, repo: str) -> int:
        assert self._map is not None, "closed"
        value: int = _COUNTER.unpack_from(self._map, slot_of(repo) * _COUNTER.size)[0]
        return value

    async def bump(self, repo: str) -> None:
        self.bump_now(repo)

    def bump_now(self, repo: str) -> None:
        assert self._map is not None, "closed"
        offset = slot_of(repo) * _COUNTER.size
        fcntl.lockf(self._fd, fcntl.LOCK_EX, _COUNTER.size, offset)
        try:
            (value,) = _COUNTER.unpack_from(self._map, offset)
            _COUNTER.pack_into(self._map, offset, value + 1)
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, _COUNTER.size, offset)

    def close(self) -> None:
        if self._map is None:
            return
        self._map.close()
        self._map = None
        os.close(self._fd)
