"""Harbor's sub-app middleware on its own: an unexpected exception is a logged 500."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from wharf.registry.http.harbor.app import create_harbor_app


async def explode(request: web.Request) -> web.Response:
    raise RuntimeError("a bug")


def test_unexpected_exception_is_a_harbor_500_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> tuple[int, object]:
        root = web.Application()
        harbor = create_harbor_app()
        harbor.router.add_get("/explode", explode)
        root.add_subapp("/api/v2.0", harbor)
        async with TestClient(TestServer(root)) as client:
            r = await client.get("/api/v2.0/explode")
            return r.status, await r.json()

    with caplog.at_level(logging.ERROR):
        status, body = asyncio.run(scenario())
    assert status == 500
    assert body == {"errors": [{"code": "UNKNOWN", "message": "internal server error"}]}
    logged = [r for r in caplog.records if r.exc_info and "a bug" in str(r.exc_info[1])]
    assert len(logged) == 1 and logged[0].name == "wharf.harbor"
