"""Self-check of the client's Bearer-token flow against an in-process fake registry.

Used by ``--smoke``; also ``python -m bench.authcheck``.  The fake demands a token whose scope
matches each request, issues tokens only for the right Basic credentials, and counts fetches.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

from aiohttp import web

from bench.client import Registry
from bench.servers import free_port

_USER, _PASSWORD = "bench", "not-a-secret"


async def check_bearer() -> str:
    """Returns a one-line summary; raises AssertionError if the flow misbehaves."""
    port = free_port()
    issued: list[str] = []
    want_basic = "Basic " + base64.b64encode(f"{_USER}:{_PASSWORD}".encode()).decode()

    async def token(req: web.Request) -> web.Response:
        if req.headers.get("Authorization") != want_basic or req.query.get("service") != "fake":
            return web.Response(status=401)
        scope = req.query["scope"]
        issued.append(scope)
        return web.json_response({"token": "T|" + scope, "expires_in": 300})

    async def v2(req: web.Request) -> web.Response:
        repo = req.path.removeprefix("/v2/").split("/blobs/")[0].split("/manifests/")[0]
        action = "pull" if req.method in ("GET", "HEAD") else "pull,push"
        scope = f"repository:{repo}:{action}"
        if req.headers.get("Authorization") != "Bearer T|" + scope:
            challenge = (
                f'Bearer realm="http://127.0.0.1:{port}/token",service="fake",scope="{scope}"'
            )
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        if req.method == "PUT":
            n = 0
            async for chunk in req.content.iter_any():
                n += len(chunk)
            return web.Response(status=201, text=str(n))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/token", token)
    app.router.add_route("*", "/v2/{tail:.*}", v2)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with Registry(
            f"http://127.0.0.1:{port}", user=_USER, password=_PASSWORD, connections=16
        ) as reg:

            async def body() -> AsyncIterator[bytes]:
                for _ in range(4):
                    yield b"x" * 1000

            # A streamed body must be replayed after the challenge.
            r = await reg.request(
                "PUT",
                "/v2/a/b/blobs/uploads/x",
                body=body,
                headers={"Content-Length": "4000"},
                expect=(201,),
            )
            assert r.body == b"4000", r.body
            # 32 concurrent pulls share one token fetch for the pull scope.
            await asyncio.gather(
                *(reg.request("GET", "/v2/a/b/manifests/latest") for _ in range(32))
            )
            await reg.request("HEAD", "/v2/a/b/blobs/sha256:00")
            assert issued == ["repository:a/b:pull,push", "repository:a/b:pull"], issued
            assert reg.token_fetches == 2
    finally:
        await runner.cleanup()
    return f"bearer auth flow ok ({len(issued)} token fetches, scopes {issued})"


if __name__ == "__main__":
    print(asyncio.run(check_bearer()))
