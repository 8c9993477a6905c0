"""Which projects are proxy caches, and of which remote registry.

The map is read from the database once and kept while the generation of ``KEY`` holds;
creating or deleting a project bumps it (``changed``), so every process and replica
reloads it on its next look. Without a readable generation (Redis down) every look reads
the database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from wharf.coord.generations import Generations

# a pseudo repository name (a space is in no repository name) whose generation versions
# the map
KEY = " proxy-cache-projects"


class ProxyDirectory:
    def __init__(
        self, generations: Generations, load: Callable[[], Awaitable[dict[str, int]]]
    ) -> None:
        self.generations = generations
        self.load = load
        self._cached: tuple[int, dict[str, int]] | None = None

    async def projects(self) -> dict[str, int]:
        """Every proxy-cache project's name -> the id of the registry it mirrors."""
        generation = self.generations.current(KEY)
        cached = self._cached
        if cached is not None and generation is not None and cached[0] == generation:
            return cached[1]
        found = await self.load()
        if generation is not None:
            self._cached = (generation, found)
        return found

    async def registry_of(self, project: str) -> int | None:
        return (await self.projects()).get(project)

    async def is_proxy(self, project: str) -> bool:
        return project in await self.projects()

    async def changed(self) -> None:
        """After a project was created or deleted: everyone reloads the map."""
        self._cached = None
        await self.generations.bump(KEY)
