"""Failed-login limits: per (username, client address), at most ``limit`` failures in a
fixed window of ``window`` seconds; beyond that the caller is refused until the window
ends (even with the right password), which is what stops guessing.

`InProcessLoginLimiter` counts in the process (the in-process backend: with several worker
processes each counts its own share, so one host admits up to workers x limit);
`RedisLoginLimiter` (in ``redis_backend``) counts in Redis for every replica."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoginLimits:
    limit: int = 10  # failed logins per window; 0 turns the limit off
    window: float = 300.0  # seconds


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
        if self.limits.limit <= 0:
            return None
        index, left = self._window(time.time())
        window, failures = self._counts.get((username, client), (index, 0))
        if window == index and failures >= self.limits.limit:
            return left
        return None

    async def failed(self, username: str, client: str) -> None:
        if self.limits.limit <= 0:
            return
        index, _ = self._window(time.time())
        key = (username, client)
        window, failures = self._counts.get(key, (index, 0))
        self._counts[key] = (index, failures + 1 if window == index else 1)
        if len(self._counts) > 100_000:  # forget finished windows
            self._counts = {k: v for k, v in self._counts.items() if v[0] == index}
