"""Races between two `wharf serve` processes on one PostgreSQL and one storage root (two
replicas): the same tag, the same blob, manifests sharing blobs, deletes racing pushes.
Nothing answers 5xx, and what the database holds afterwards is consistent.

Each replica has its own data directory (its own host-local caches), so the final state is
checked in the database and through immutable reads (by digest), not through tag reads
that one replica may still have cached from before the other's write."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from .helpers import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Client, Server, run_wharf, sha256
from .services import Postgres

pytestmark = pytest.mark.services

DB = "races"


@pytest.fixture(scope="module")
def replicas(
    postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    postgres.create_database(DB)
    base = tmp_path_factory.mktemp("replicas")
    env = {**postgres.wharf_env(DB), "WHARF_STORAGE__FILESYSTEM__ROOT": str(base / "storage")}
    with (
        run_wharf(base / "a" / "data", workers=1, env=env) as a,
        run_wharf(base / "b" / "data", workers=1, env=env) as b,
    ):
        yield a, b
    for server in (a, b):
        assert '"level":"error"' not in server.log(), server.log()[-5000:]


def race(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run every call at once (threads); their responses, none of them a 5xx."""
    with ThreadPoolExecutor(max_workers=min(len(calls), 16)) as pool:
        responses = list(pool.map(lambda call: call(), calls))
    errors = [f"{r.request.method} {r.url}: {r.status_code} {r.text}" for r in responses]
    assert all(r.status_code < 500 for r in responses), errors
    return responses


def sql(postgres: Postgres, query: str) -> str:
    return postgres.psql(query, DB).strip()


def manifest_for(config: bytes, layers: list[bytes]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": sha256(data), "size": len(data)}
                for data in layers
            ],
        }
    ).encode()


def put_blob(client: Client, repo: str, data: bytes) -> Callable[[], requests.Response]:
    return lambda: client.request(
        "POST", f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, data=data
    )


def put_manifest(
    client: Client, repo: str, ref: str, body: bytes
) -> Callable[[], requests.Response]:
    return lambda: client.request(
        "PUT", f"/v2/{repo}/manifests/{ref}", data=body, headers={"Content-Type": OCI_MANIFEST}
    )


def clients(replicas: tuple[Server, Server]) -> tuple[Client, Client]:
    return Client(replicas[0].url), Client(replicas[1].url)


def test_same_blob_pushed_on_both_replicas(
    replicas: tuple[Server, Server], postgres: Postgres
) -> None:
    a, b = clients(replicas)
    data = os.urandom(256 * 1024)
    responses = race([put_blob(c, "race/blob", data) for c in (a, b) * 8])
    assert {r.status_code for r in responses} == {201}
    digest = sha256(data)
    assert sql(postgres, f"SELECT count(*) FROM blobs WHERE digest = '{digest}'") == "1"
    assert sql(postgres, f"SELECT count(*) FROM repo_blobs WHERE digest = '{digest}'") == "1"
    for c in (a, b):
        r = c.request("GET", f"/v2/race/blob/blobs/{digest}")
        assert r.status_code == 200 and r.content == data


def test_same_tag_pushed_on_both_replicas(
    replicas: tuple[Server, Server], postgres: Postgres
) -> None:
    a, b = clients(replicas)
    layer = os.urandom(4096)
    configs = [json.dumps({"os": "linux", "n": i}).encode() for i in range(16)]
    race([put_blob(a, "race/tag", layer)] + [put_blob(a, "race/tag", c) for c in configs])
    bodies = [manifest_for(c, [layer]) for c in configs]
    responses = race(
        [put_manifest((a, b)[i % 2], "race/tag", "latest", body) for i, body in enumerate(bodies)]
    )
    assert {r.status_code for r in responses} == {201}
    rows = sql(
        postgres,
        "SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id "
        "WHERE r.name = 'race/tag' AND t.name = 'latest'",
    ).splitlines()
    assert len(rows) == 1 and rows[0] in {sha256(body) for body in bodies}
    assert sql(postgres, "SELECT count(*) FROM repositories WHERE name = 'race/tag'") == "1"
    for c in (a, b):  # every pushed manifest is there by digest, on both replicas
        for body in bodies:
            assert c.request("GET", f"/v2/race/tag/manifests/{sha256(body)}").content == body


def test_manifests_sharing_blobs_across_replicas_and_repositories(
    replicas: tuple[Server, Server], postgres: Postgres
) -> None:
    a, b = clients(replicas)
    shared = os.urandom(8192)
    configs = [json.dumps({"os": "linux", "shared": i}).encode() for i in range(12)]
    repos = [f"race/shared{i % 3}" for i in range(12)]

    def push(i: int) -> requests.Response:
        client = (a, b)[i % 2]
        for data in (shared, configs[i]):
            r = put_blob(client, repos[i], data)()
            if r.status_code != 201:
                return r
        return put_manifest(client, repos[i], f"v{i}", manifest_for(configs[i], [shared]))()

    responses = race([lambda i=i: push(i) for i in range(12)])
    assert {r.status_code for r in responses} == {201}
    digest = sha256(shared)
    assert sql(postgres, f"SELECT count(*) FROM blobs WHERE digest = '{digest}'") == "1"
    assert sql(postgres, f"SELECT count(*) FROM repo_blobs WHERE digest = '{digest}'") == "3"
    assert sql(postgres, f"SELECT count(*) FROM manifest_blobs WHERE blob_digest = '{digest}'") == (
        "12"
    )
    for i in range(12):
        body = manifest_for(configs[i], [shared])
        r = (b, a)[i % 2].request("GET", f"/v2/{repos[i]}/manifests/{sha256(body)}")
        assert r.status_code == 200 and r.content == body


def test_deletes_racing_pushes(replicas: tuple[Server, Server], postgres: Postgres) -> None:
    """Replica A pushes manifests (re-pushing the same ones) and tags while replica B
    deletes those manifests, their tags and a layer they use: every answer is a success or
    a clean 4xx, and no row is left pointing at something gone."""
    a, b = clients(replicas)
    layer = os.urandom(2048)
    configs = [json.dumps({"os": "linux", "d": i}).encode() for i in range(6)]
    race([put_blob(a, "race/del", data) for data in (layer, *configs)])
    bodies = [manifest_for(c, [layer]) for c in configs]

    calls: list[Callable[[], requests.Response]] = []
    for round_ in range(4):
        for i, body in enumerate(bodies):
            digest = sha256(body)
            calls.append(put_manifest(a, "race/del", f"t{i}", body))
            calls.append(put_manifest(a, "race/del", digest, body))
            calls.append(lambda d=digest: b.request("DELETE", f"/v2/race/del/manifests/{d}"))
            calls.append(lambda i=i: b.request("DELETE", f"/v2/race/del/manifests/t{i}"))
        if round_ == 2:  # one layer unlink in the middle: later pushes may find it gone
            calls.append(lambda: b.request("DELETE", f"/v2/race/del/blobs/{sha256(layer)}"))
    responses = race(calls)
    allowed: dict[str, set[int]] = {"PUT": {201, 400, 404}, "DELETE": {202, 404, 405}}
    unexpected: list[Any] = [
        (r.request.method, r.url, r.status_code, r.text)
        for r in responses
        if r.status_code not in allowed[str(r.request.method)]
    ]
    assert not unexpected
    assert any(r.status_code == 201 for r in responses)
    assert any(r.status_code == 202 for r in responses)
    # what the foreign keys promise, checked: tags and references point at live rows
    dangling = sql(
        postgres,
        "SELECT (SELECT count(*) FROM tags t LEFT JOIN manifests m ON m.repo_id = t.repo_id "
        "AND m.digest = t.digest WHERE m.digest IS NULL) + (SELECT count(*) FROM "
        "manifest_blobs mb LEFT JOIN manifests m ON m.repo_id = mb.repo_id AND m.digest = "
        "mb.manifest_digest WHERE m.digest IS NULL) + (SELECT count(*) FROM manifests m "
        "LEFT JOIN blobs b ON b.digest = m.digest WHERE b.digest IS NULL)",
    )
    assert dangling == "0"
    # every manifest still recorded is readable by digest from both replicas
    left = sql(
        postgres,
        "SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repo_id "
        "WHERE r.name = 'race/del'",
    ).split()
    for digest in left:
        for c in (a, b):
            assert c.request("GET", f"/v2/race/del/manifests/{digest}").status_code == 200
    assert sql(postgres, "SELECT count(*) FROM uploads WHERE lease_owner IS NOT NULL") == "0"
