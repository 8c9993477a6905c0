"""Caches of the hot manifest reads, and how writes invalidate them across processes.

Manifests by digest are immutable: their bytes are kept in a bounded LRU. What a tag (or a
digest in a repository) resolves to can change, so those lookups are cached against a
*generation*: a counter per slot (a hash of the repository name) that every write to the
repository bumps after it commits. A cached entry is valid while its slot's counter still
has the value read *before* the database was queried, so a write that lands during the
query invalidates it too. Worker processes on one host share the counters through a
memory-mapped file; `InProcessGenerations` serves a single process (and tests)."""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import zlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from pathlib import Path
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

SLOTS = 4096
_COUNTER = struct.Struct("=Q")


def slot_of(repo: str) -> int:
    return zlib.crc32(repo.encode()) % SLOTS


class Generations(ABC):
    """Per-repository change counters."""

    @abstractmethod
    def current(self, repo: str) -> int: ...

    @abstractmethod
    def bump(self, repo: str) -> None: ...

    @abstractmethod
    def close(self) -> None:
        """Release what the counters hold (a mapping, a file)."""


class InProcessGenerations(Generations):
    def __init__(self) -> None:
        self._counters = [0] * SLOTS

    def close(self) -> None:
        self._counters = [0] * SLOTS

    def current(self, repo: str) -> int:
        return self._counters[slot_of(repo)]

    def bump(self, repo: str) -> None:
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
        self._map = mmap.mmap(self._fd, size)

    def current(self, repo: str) -> int:
        value: int = _COUNTER.unpack_from(self._map, slot_of(repo) * _COUNTER.size)[0]
        return value

    def bump(self, repo: str) -> None:
        offset = slot_of(repo) * _COUNTER.size
        fcntl.lockf(self._fd, fcntl.LOCK_EX, _COUNTER.size, offset)
        try:
            (value,) = _COUNTER.unpack_from(self._map, offset)
            _COUNTER.pack_into(self._map, offset, value + 1)
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, _COUNTER.size, offset)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class BytesCache:
    """Immutable contents by digest, bounded by total bytes (least recently used goes)."""

    def __init__(self, max_bytes: int) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes

    def get(self, digest: str) -> bytes | None:
        content = self._items.get(digest)
        if content is not None:
            self._items.move_to_end(digest)
        return content

    def put(self, digest: str, content: bytes) -> None:
        if len(content) > self._max or digest in self._items:
            return
        self._items[digest] = content
        self._bytes += len(content)
        while self._bytes > self._max:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped)


class GenerationCache(Generic[K, V]):
    """Lookups keyed by (repository, key), valid while the repository's generation holds."""

    def __init__(self, generations: Generations, max_entries: int) -> None:
        self._generations = generations
        self._items: OrderedDict[tuple[str, K], tuple[int, V]] = OrderedDict()
        self._max = max_entries

    def generation(self, repo: str) -> int:
        """Read before querying the database; pass to put()."""
        return self._generations.current(repo)

    def get(self, repo: str, key: K) -> V | None:
        entry = self._items.get((repo, key))
        if entry is None:
            return None
        generation, value = entry
        if generation != self._generations.current(repo):
            del self._items[(repo, key)]
            return None
        self._items.move_to_end((repo, key))
        return value

    def put(self, repo: str, key: K, value: V, generation: int) -> None:
        self._items[(repo, key)] = (generation, value)
        self._items.move_to_end((repo, key))
        if len(self._items) > self._max:
            self._items.popitem(last=False)

    def invalidate(self, repo: str) -> None:
        """After a write to ``repo`` commits: every process drops what it holds for it."""
        self._generations.bump(repo)
