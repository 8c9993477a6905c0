"""Harbor-compatible management REST API under /api/v2.0/."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    pass
