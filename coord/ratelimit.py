"""Failed-login limits: per (username, client address), at most ``limit`` failures in a
fixed window of ``window`` seconds, and per client address whatever the usernames, at
most ``per_address``; beyond either the caller is refused until the window ends (even
with the right password), which is what stops guessing one password or spraying many
usernames.

`InProcessLoginLimiter` counts in the process (the in-process backend: with several worker
processes each counts its own share, so one host admits up to workers x limit);
`RedisLoginLimiter` (in ``redis_backend``) counts in Redis for every replica."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoginLimits:
    limit: int = 10  # failed logins per (username, address) and window; 0: no limit
    window: float = 300.0  # seconds
    per_address: int = 0  # failed logins per address and window, any usernames; 0: none

    def counters(self, username: str, client: str) -> list[tuple[tuple[str, str], int]]:
        """The counters a failure of ``username`` from ``client`` adds to, with their
        limits (the address's own counter has no username: "\0" can't be one)."""
        found = []
        if self.limit > 0:
            found.append(((username, client), self.limit))
        if self.per_address > 0:
            found.append((("\0", client), self.per_address))
        return found


class LoginLimiter(ABC):
    def __init__(self, limits: LoginLimits) -> None:
        self.limits = limits

    def _window(self, now: float) -> tuple[int, float]:
        """The current window's number and the seconds left in it."""
        index = int(now // self.limits.window)
        return index, (index + 1) * self.limits.window - now

    @abstractmethod
    async def blocked(self, username: str, client: str) -> float | None:
        """Seconds until this caller may try again, or None when it may try now."""

    @abstractmethod
    async def failed(self, username: str, client: str) -> None:
        """Count one failed login."""


class InProcessLoginLimiter(LoginLimiter):
    def __init__(self, limits: LoginLimits) -> None:
        super().__init__(limits)
        self._counts: dict[tuple[str, str], tuple[int, int]] = {}  # -> (window, failures)

    async def blocked(self, username: str, client: str) -> float | None:
        index, left = self._window(time.time())
        for key, limit in self.limits.counters(username, client):
            window, failures = self._counts.get(key, (index, 0))
            if window == index and failures >= limit:
                return left
        return None

    async def failed(self, username: str, client: str) -> None:
        index, _ = self._window(time.time())
        for key, _limit in self.limits.counters(username, client):
            window, failures = self._counts.get(key, (index, 0))
            self._counts[key] = (index, failures + 1 if window == index else 1)
        if len(self._counts) > 100_000:  # forget finished windows
            self._counts = {k: v for k, v in self._counts.items() if v[0] == index}
