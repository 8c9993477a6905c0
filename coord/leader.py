"""Leader locks: of everyone asking for one lock, one leads at a time.

`FileLeaderLock` (in-process backend): an flock on a file under ``<data_dir>/run``, so one
worker process of the host leads; the kernel drops it when the holder dies.
`RedisLeaderLock` (in ``redis_backend``): a key set with NX and a lease (PX), renewed by the
holder; when the holder dies the lease runs out and another contender takes over.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from abc import ABC, abstractmethod
from pathlib import Path


class LeaderLock(ABC):
    name: str
    renew_every: float = 10.0  # seconds between acquire() calls of a holder, < its lease
    # the last acquire() could not ask the backend (Redis down): its False then means
    # "nobody can tell", not "someone else holds it"
    unreachable: bool = False

    @abstractmethod
    async def acquire(self) -> bool:
        """Become or stay the leader; True while this process leads. Call it more often
        than the lock's lease runs out: it is also the renewal."""

    @abstractmethod
    async def release(self) -> None:
        """Stop leading (another contender may take over at once)."""


class FileLeaderLock(LeaderLock):
    def __init__(self, path: Path, name: str, *, unlink: bool = False) -> None:
        self.path = path
        self.name = name
        # remove the file on release (short-lived locks, one per name: no file left per
        # name; a contender that opened the old file just before may then hold it too,
        # so only use it where two holders at once is harmless, merely wasteful)
        self.unlink = unlink
        self._fd: int | None = None

    async def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    async def release(self) -> None:
        if self._fd is not None:
            if self.unlink:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
            os.close(self._fd)  # closing drops the flock
            self._fd = None
