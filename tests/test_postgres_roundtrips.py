"""Database round trips per registry operation on PostgreSQL, counted at the driver.

The app runs in-process on a pool of one connection whose class counts every statement
sent (asyncpg's extended-protocol executions and simple queries: BEGIN and COMMIT count).
The statements are prepared once per connection (asyncpg's statement cache), so a warm-up
push and pull runs first and the counts are the steady state: one statement is one round
trip. Run with ``-s`` to see the table."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from wharf.db.postgres import PostgresDatabase
from wharf.registry.config import Settings, load_settings
from wharf.registry.http import app as app_module
from wharf.registry.http.app import create_app
from wharf.registry.wiring import SCHEMAS

from .helpers import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256
from .services import Postgres

pytestmark = pytest.mark.services

SENT: list[str] = []  # every statement the counting connections sent, in order


class CountingConnection(asyncpg.Connection):  # type: ignore[type-arg]
    async def _execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        SENT.append(query)
        return await super()._execute(query, *args, **kwargs)  # type: ignore[misc]

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> str:
        if not args:  # a simple query (BEGIN, COMMIT); with arguments it's _execute
            SENT.append(query)
        return await super().execute(query, *args, **kwargs)

    async def _executemany(self, query: str, *args: Any, **kwargs: Any) -> Any:
        SENT.append(query)
        return await super()._executemany(query, *args, **kwargs)  # type: ignore[misc]


async def counted(step: Callable[[], Awaitable[None]]) -> int:
    before = len(SENT)
    await step()
    return len(SENT) - before


def image(tag_seed: str) -> tuple[bytes, bytes, bytes]:
    config = json.dumps({"os": "linux", "seed": tag_seed}).encode()
    layer = os.urandom(4096)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
        }
    ).encode()
    return config, layer, body


@pytest.fixture
def settings(postgres: Postgres, tmp_path: Path) -> Settings:
    name = f"roundtrips_{os.getpid()}"
    postgres.drop_database(name)
    url = postgres.create_database(name)
    return load_settings(
        overrides={
            "data_dir": tmp_path / "data",
            "database": {"url": url, "pool_min": 1, "pool_max": 1},
            "auth": {"enabled": False},
        },
        environ={},
    )


@asynccontextmanager
async def serve(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    def counting_database(s: Settings) -> PostgresDatabase:
        return PostgresDatabase(
            s.database_url,
            schemas=SCHEMAS,
            pool_min=1,
            pool_max=1,
            connection_class=CountingConnection,
        )

    monkeypatch.setattr(app_module, "make_database", counting_database)
    server = TestServer(create_app(settings))
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def test_round_trips_per_operation(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    counts: dict[str, int] = {}

    async def main() -> None:
        async with serve(settings, monkeypatch) as url, aiohttp.ClientSession() as http:

            async def push(repo: str, tag: str, seed: str) -> tuple[bytes, bytes, bytes]:
                config, layer, body = image(seed)
                for blob in (config, layer):
                    async with http.post(
                        f"{url}/v2/{repo}/blobs/uploads/",
                        params={"digest": sha256(blob)},
                        data=blob,
                    ) as r:
                        assert r.status == 201, await r.text()
                async with http.put(
                    f"{url}/v2/{repo}/manifests/{tag}",
                    data=body,
                    headers={"Content-Type": OCI_MANIFEST},
                ) as r:
                    assert r.status == 201, await r.text()
                return config, layer, body

            async def get_manifest(repo: str, ref: str) -> None:
                async with http.get(
                    f"{url}/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST}
                ) as r:
                    assert r.status == 200
                    await r.read()

            async def get_blob(repo: str, digest: str, method: str = "GET") -> None:
                async with http.request(method, f"{url}/v2/{repo}/blobs/{digest}") as r:
                    assert r.status == 200
                    await r.read()

            async def pull(repo: str, tag: str, config: bytes, layer: bytes) -> None:
                await get_manifest(repo, tag)
                await get_blob(repo, sha256(config))
                await get_blob(repo, sha256(layer))

            # warm-up: every statement prepared on the one pooled connection
            warm = await push("rt/warm", "v1", "warm")
            await pull("rt/warm", "v1", warm[0], warm[1])
            await push("rt/warm", "v2", "warm2")

            holder: dict[str, tuple[bytes, bytes, bytes]] = {}

            async def first_push() -> None:
                holder["new"] = await push("rt/new", "v1", "new")

            async def next_push() -> None:
                holder["app"] = await push("rt/warm", "v3", "again")

            counts["push, new repository (2 blobs + manifest)"] = await counted(first_push)
            counts["push, existing repository (2 blobs + manifest)"] = await counted(next_push)
            layer = holder["app"][1]
            counts["manifest GET by tag, uncached"] = await counted(
                lambda: get_manifest("rt/warm", "v3")
            )
            counts["manifest GET by tag, cached"] = await counted(
                lambda: get_manifest("rt/warm", "v3")
            )
            counts["blob HEAD"] = await counted(lambda: get_blob("rt/warm", sha256(layer), "HEAD"))

            async def chunked_blob() -> None:
                data = os.urandom(8192)
                async with http.post(f"{url}/v2/rt/warm/blobs/uploads/") as r:
                    assert r.status == 202, await r.text()
                    location = r.headers["Location"]
                target = location if location.startswith("http") else url + location
                async with http.patch(
                    target,
                    data=data,
                    headers={"Content-Type": "application/octet-stream"},
                ) as r:
                    assert r.status == 202, await r.text()
                    location = r.headers["Location"]
                target = location if location.startswith("http") else url + location
                async with http.put(target, params={"digest": sha256(data)}) as r:
                    assert r.status == 201, await r.text()

            await chunked_blob()  # warm-up of the upload statements
            counts["blob push, chunked (POST + PATCH + PUT)"] = await counted(chunked_blob)
            counts["pull (manifest by tag + 2 blobs), uncached"] = await counted(
                lambda: pull("rt/new", "v1", holder["new"][0], holder["new"][1])
            )
            counts["pull (manifest by tag + 2 blobs), manifest cached"] = await counted(
                lambda: pull("rt/new", "v1", holder["new"][0], holder["new"][1])
            )

    asyncio.run(main())
    width = max(len(k) for k in counts)
    print("\nPostgreSQL round trips per operation (steady state):")
    for what, n in counts.items():
        print(f"  {what:<{width}}  {n}")
    assert counts["manifest GET by tag, uncached"] <= 1, counts
    assert counts["manifest GET by tag, cached"] == 0, counts
    assert counts["blob HEAD"] <= 1, counts
    assert counts["pull (manifest by tag + 2 blobs), uncached"] <= 3, counts
    # a blob is one statement, a manifest one transaction of two (check, write), and each
    # published digest (2 blobs, the manifest) one statement more: GC's pin
    assert counts["push, existing repository (2 blobs + manifest)"] <= 10, counts
    # POST 1; PATCH: the lease taken with the session read back, then released, 2; PUT:
    # the lease taken with the session and GC's pin, then the blob row, 2
    assert counts["blob push, chunked (POST + PATCH + PUT)"] <= 5, counts


ADMIN_PASSWORD = "Admin-Pass-1"


def test_round_trips_with_token_auth(
    postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same with access control on (a Bearer token, `revalidate_tokens` on): what the
    auth layer adds per request."""
    name = f"roundtrips_auth_{os.getpid()}"
    postgres.drop_database(name)
    settings = load_settings(
        overrides={
            "data_dir": tmp_path / "data",
            "database": {"url": postgres.create_database(name), "pool_min": 1, "pool_max": 1},
            "auth": {"enabled": True, "admin_password": ADMIN_PASSWORD},
        },
        environ={},
    )
    counts: dict[str, int] = {}
    auth_reads: list[str] = []

    async def main() -> None:
        async with serve(settings, monkeypatch) as url, aiohttp.ClientSession() as http:
            basic = {"Authorization": aiohttp.encode_basic_auth("admin", ADMIN_PASSWORD)}
            headers: dict[str, str] = {}

            async def token() -> None:
                async with http.get(
                    f"{url}/service/token",
                    params=[("service", "wharf"), ("scope", "repository:library/app:pull,push")],
                    headers=basic,
                ) as r:
                    assert r.status == 200, await r.text()
                    headers["Authorization"] = f"Bearer {(await r.json())['token']}"

            async def push(tag: str) -> tuple[bytes, bytes, bytes]:
                config, layer, body = image(tag)
                for blob in (config, layer):
                    async with http.post(
                        f"{url}/v2/library/app/blobs/uploads/",
                        params={"digest": sha256(blob)},
                        data=blob,
                        headers=headers,
                    ) as r:
                        assert r.status == 201, await r.text()
                async with http.put(
                    f"{url}/v2/library/app/manifests/{tag}",
                    data=body,
                    headers={**headers, "Content-Type": OCI_MANIFEST},
                ) as r:
                    assert r.status == 201, await r.text()
                return config, layer, body

            async def get(path: str, method: str = "GET") -> None:
                async with http.request(
                    method, f"{url}/v2/library/app/{path}", headers=headers
                ) as r:
                    assert r.status == 200, await r.text()
                    await r.read()

            await token()  # warm-up, statements prepared
            await push("warm")
            await get("manifests/warm")
            counts["token (Basic → Bearer)"] = await counted(token)
            layer = b""

            async def measured_push() -> None:
                nonlocal layer
                layer = (await push("v1"))[1]

            counts["push, existing repository (2 blobs + manifest)"] = await counted(measured_push)
            counts["manifest GET by tag, uncached"] = await counted(lambda: get("manifests/v1"))
            mark = len(SENT)
            counts["manifest GET by tag, cached"] = await counted(lambda: get("manifests/v1"))
            auth_reads.extend(SENT[mark:])
            counts["blob HEAD"] = await counted(lambda: get(f"blobs/{sha256(layer)}", "HEAD"))

    asyncio.run(main())
    width = max(len(k) for k in counts)
    print("\nPostgreSQL round trips per operation, token auth on (steady state):")
    for what, n in counts.items():
        print(f"  {what:<{width}}  {n}")
    # the registry's part of a cached tag read is still nothing: its one statement is the
    # token's revalidation (the user, their memberships and the public projects at once)
    assert len(auth_reads) == 1 and " users " in auth_reads[0], auth_reads
    # a blob HEAD is its one store read plus that same revalidation
    assert counts["blob HEAD"] == 1 + len(auth_reads), counts
