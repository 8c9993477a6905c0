"""Caches of the hot manifest reads, and how writes invalidate them across processes.

Manifests by digest are immutable: their bytes are kept in a bounded LRU. What a tag (or a
digest in a repository) resolves to can change, so those lookups are cached against a
*generation*: a counter per slot (a hash of the repository name) that every write to the
repository bumps after it commits. A cached entry is valid while its slot's counter still
has the value read *before* the database was queried, so a write that lands during the
query invalidates it too. The counters come from the coordination layer (`wharf.coord`):
shared by the worker processes of one host through a memory-mapped file, or by every
replica through Redis; when they cannot vouch for freshness (Redis down or lagging) the
generation reads None and lookups go to the database, uncached."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

from wharf.coord.generations import (
    SLOTS,
    Generations,
    InProcessGenerations,
    SharedGenerations,
    slot_of,
)

__all__ = [
    "SLOTS",
    "BytesCache",
    "GenerationCache",
    "Generations",
    "InProcessGenerations",
    "SharedGenerations",
    "slot_of",
]

K = TypeVar("K")
V = TypeVar("V")


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

    def generation(self, repo: str) -> int | None:
        """Read before querying the database; pass to put() (None: do not cache)."""
        return self._generations.current(repo)

    def get(self, repo: str, key: K) -> V | None:
        entry = self._items.get((repo, key))
        if entry is None:
            return None
        generation, value = entry
        if generation != self._generations.current(repo):  # also when it reads None
            del self._items[(repo, key)]
            return None
        self._items.move_to_end((repo, key))
        return value

    def put(self, repo: str, key: K, value: V, generation: int | None) -> None:
        if generation is None:
            return
        self._items[(repo, key)] = (generation, value)
        self._items.move_to_end((repo, key))
        if len(self._items) > self._max:
            self._items.popitem(last=False)

    async def invalidate(self, repo: str) -> None:
        """After a write to ``repo`` commits: every process (and replica) drops what it
        holds for it."""
        await self._generations.bump(repo)
