"""testbed.pgwire counts database round trips on the wire (what `python -m bench.ha`
reports for replicas in other processes): for the same requests it counts exactly the
statements asyncpg sends, as ``tests/test_postgres_roundtrips.py`` counts them in-process."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import aiohttp
import pytest

from testbed.pgwire import RoundTripCounter
from wharf.registry.config import load_settings

from .helpers import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256
from .services import Postgres
from .test_postgres_roundtrips import SENT, serve

pytestmark = pytest.mark.services


async def _push_and_pull(http: aiohttp.ClientSession, url: str, repo: str, tag: str) -> None:
    config = json.dumps({"tag": tag}).encode()
    layer = os.urandom(2048)
    for blob in (config, layer):
        async with http.post(
            f"{url}/v2/{repo}/blobs/uploads/", params={"digest": sha256(blob)}, data=blob
        ) as r:
            assert r.status == 201, await r.text()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
        }
    ).encode()
    async with http.put(
        f"{url}/v2/{repo}/manifests/{tag}", data=manifest, headers={"Content-Type": OCI_MANIFEST}
    ) as r:
        assert r.status == 201, await r.text()
    async with http.get(f"{url}/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}) as r:
        assert r.status == 200 and await r.read() == manifest
    for blob in (config, layer):
        async with http.get(f"{url}/v2/{repo}/blobs/{sha256(blob)}") as r:
            assert r.status == 200 and await r.read() == blob


def test_wire_count_equals_the_statements_asyncpg_sent(
    postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"pgwire_{os.getpid()}"
    postgres.drop_database(name)
    postgres.create_database(name)
    with RoundTripCounter((postgres.host, postgres.port)) as counter:
        url = postgres.dsn(name).replace(f":{postgres.port}/", f":{counter.port}/")
        settings = load_settings(
            overrides={
                "data_dir": tmp_path / "data",
                "database": {"url": url, "pool_min": 1, "pool_max": 1},
                "auth": {"enabled": False},
            },
            environ={},
        )
        counted: dict[str, int] = {}

        async def main() -> None:
            async with serve(settings, monkeypatch) as base, aiohttp.ClientSession() as http:
                await _push_and_pull(http, base, "wire/warm", "w1")  # statements prepared
                await _push_and_pull(http, base, "wire/warm", "w2")
                sent, wire = len(SENT), counter.snapshot()
                for i in range(3):
                    await _push_and_pull(http, base, "wire/app", f"v{i}")
                counted["asyncpg"] = len(SENT) - sent
                counted["wire"] = (counter.snapshot() - wire).round_trips
                counted["connections"] = counter.snapshot().connections

        asyncio.run(main())
    assert counted["asyncpg"] > 20, counted  # 3 pushes and pulls: a real workload
    assert counted["wire"] == counted["asyncpg"], counted
    assert counted["connections"] == 1, counted  # the pool's one connection, through it
