"""A storage quota stays exact under a storm: concurrent pushes (sharing layers, into
several repositories of one project, through two app instances on PostgreSQL — two
replicas, each with its own view of the limits), manifest deletes, blob unlinks and GC
runs, with a limit tight enough to refuse many pushes. Afterwards the usage the API
reports equals the usage recomputed here from the raw rows (each digest once per
project), it never passed the limit, no push left a partial artifact, and every push
that was acknowledged and not deleted is there whole. Nothing answered 5xx."""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from .inproc import ADMIN, InProcessServer, serve_in_process

LIMIT = 80_000
PROJECT = "storm"
WORKERS = 6
ROUNDS = 8
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SHARED = [bytes([65 + i]) * 4000 for i in range(3)]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest(config: bytes, layers: list[bytes]) -> bytes:
    def entry(media_type: str, data: bytes) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": sha(data), "size": len(data)}

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": entry("application/vnd.oci.image.config.v1+json", config),
            "layers": [entry("application/vnd.oci.image.layer.v1.tar", d) for d in layers],
        }
    ).encode()


@dataclass
class Outcome:
    statuses: list[int] = field(default_factory=list)
    refusals: int = 0
    pushed: dict[tuple[str, str], str] = field(default_factory=dict)  # (repo, tag) -> digest
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, r: requests.Response) -> requests.Response:
        with self.lock:
            self.statuses.append(r.status_code)
            if r.status_code == 403:
                assert "quota" in r.json()["errors"][0]["message"], r.text
                self.refusals += 1
        assert r.status_code < 500, f"{r.request.method} {r.url}: {r.status_code} {r.text}"
        return r


def pusher(urls: list[str], worker: int, outcome: Outcome) -> None:
    rng = random.Random(worker)
    mine: list[tuple[str, str, str]] = []
    for round_ in range(ROUNDS):
        url = urls[(worker + round_) % len(urls)]
        repo = f"{PROJECT}/r{(worker + round_) % 3}"
        tag = f"w{worker}-{round_}"
        config = json.dumps({"os": "linux", "w": worker, "r": round_}).encode()
        layers = [rng.choice(SHARED), os.urandom(rng.choice((1000, 3000, 6000)))]
        refused = False
        for data in (config, *layers):
            r = outcome.saw(
                requests.post(
                    f"{url}/v2/{repo}/blobs/uploads/",
                    params={"digest": sha(data)},
                    data=data,
                    auth=ADMIN,
                    timeout=60,
                )
            )
            refused = refused or r.status_code != 201
        if refused:
            unlink(url, repo, layers[1], outcome)  # what made it in, the client cleans up
            continue
        body = image_manifest(config, layers)
        r = outcome.saw(
            requests.put(
                f"{url}/v2/{repo}/manifests/{tag}",
                data=body,
                headers={"Content-Type": OCI_MANIFEST},
                auth=ADMIN,
                timeout=60,
            )
        )
        if r.status_code == 201:
            with outcome.lock:
                outcome.pushed[(repo, tag)] = sha(body)
            mine.append((repo, tag, sha(body)))
        elif rng.random() < 0.5:
            unlink(url, repo, layers[1], outcome)
        # now and then: delete one of our images
        if mine and rng.random() < 0.3:
            repo_, tag_, digest = mine.pop(rng.randrange(len(mine)))
            r = outcome.saw(
                requests.delete(f"{url}/v2/{repo_}/manifests/{digest}", auth=ADMIN, timeout=60)
            )
            if r.status_code == 202:
                with outcome.lock:
                    del outcome.pushed[(repo_, tag_)]


def unlink(url: str, repo: str, data: bytes, outcome: Outcome) -> None:
    """Unlink a layer no manifest of ours references (404 when it never got in)."""
    r = outcome.saw(requests.delete(f"{url}/v2/{repo}/blobs/{sha(data)}", auth=ADMIN, timeout=60))
    assert r.status_code in (202, 404), r.text


def collector(url: str, outcome: Outcome) -> None:
    for _ in range(3):
        r = outcome.saw(
            requests.post(
                f"{url}/api/v2.0/system/gc/schedule",
                json={
                    "schedule": {"type": "Manual"},
                    "parameters": {"delete_untagged": True, "grace": 0},
                },
                auth=ADMIN,
                timeout=60,
            )
        )
        assert r.status_code in (201, 409), r.text  # 409: a run is still going


def recount(rows: Iterator[tuple[str, ...]]) -> int:
    """The project's usage from raw rows: ('r', repo name, digest) links and manifests,
    ('b', digest, size, deleting) blobs; each digest once."""
    digests: set[str] = set()
    sizes: dict[str, int] = {}
    for row in rows:
        if row[0] == "r" and row[1].startswith(PROJECT + "/"):
            digests.add(row[2])
        elif row[0] == "b" and row[3] in ("", "None"):
            sizes[row[1]] = int(row[2])
    return sum(sizes[d] for d in digests if d in sizes)


RAW = (
    "SELECT 'r', r.name, rb.digest, '' FROM repo_blobs rb JOIN repositories r "
    "ON r.id = rb.repo_id UNION ALL SELECT 'r', r.name, m.digest, '' FROM manifests m "
    "JOIN repositories r ON r.id = m.repo_id UNION ALL "
    "SELECT 'b', digest, CAST(size AS TEXT), COALESCE(CAST(deleting AS TEXT), '') FROM blobs"
)
PARTIAL = (
    "SELECT count(*) FROM manifest_blobs mb WHERE NOT EXISTS (SELECT 1 FROM repo_blobs rb "
    "JOIN blobs b ON b.digest = rb.digest WHERE rb.repo_id = mb.repo_id "
    "AND rb.digest = mb.blob_digest AND b.deleting IS NULL)"
)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.services)]
)
def test_usage_stays_exact_through_a_storm(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        servers: list[InProcessServer] = []
        if backend == "postgres":
            postgres = request.getfixturevalue("postgres")
            environ = {
                "WHARF_DATABASE__URL": postgres.create_database("quota_storm"),
                "WHARF_STORAGE__FILESYSTEM__ROOT": str(tmp_path / "storage"),
            }
            for name in ("a", "b"):  # two replicas on one database and one storage
                servers.append(
                    stack.enter_context(
                        serve_in_process(
                            tmp_path / name, auth=True, admin_password=ADMIN[1], environ=environ
                        )
                    )
                )
        else:
            servers.append(
                stack.enter_context(
                    serve_in_process(tmp_path / "data", auth=True, admin_password=ADMIN[1])
                )
            )
        url = servers[0].url
        r = requests.post(
            f"{url}/api/v2.0/projects",
            json={"project_name": PROJECT, "storage_limit": LIMIT},
            auth=ADMIN,
            timeout=30,
        )
        assert r.status_code == 201, r.text
        outcome = Outcome()
        urls = [s.url for s in servers]
        with ThreadPoolExecutor(max_workers=WORKERS + 1) as pool:
            jobs = [pool.submit(pusher, urls, w, outcome) for w in range(WORKERS)]
            jobs.append(pool.submit(collector, urls[-1], outcome))
            for job in jobs:
                job.result()

        # the storm was one: the limit refused pushes and let others through
        assert outcome.refusals > 0 and outcome.pushed, (outcome.refusals, outcome.pushed)

        if backend == "postgres":
            raw = postgres.psql(RAW, "quota_storm")
            rows: list[tuple[str, ...]] = [tuple(line.split("|")) for line in raw.splitlines()]
            partial = int(postgres.psql(PARTIAL, "quota_storm").strip())
        else:
            with sqlite3.connect(tmp_path / "data" / "wharf.db") as db:
                rows = [tuple(str(v) for v in row) for row in db.execute(RAW)]
                partial = int(db.execute(PARTIAL).fetchone()[0])
        recounted = recount(iter(rows))
        pid = requests.get(f"{url}/api/v2.0/projects/{PROJECT}", auth=ADMIN, timeout=30).json()[
            "project_id"
        ]
        for server in servers:
            quota = requests.get(f"{server.url}/api/v2.0/quotas/{pid}", auth=ADMIN, timeout=30)
            assert quota.json()["used"] == {"storage": recounted}, (quota.json(), recounted)
        assert 0 < recounted <= LIMIT
        assert partial == 0  # every manifest's blobs are linked and live
        for (repo, tag), digest in outcome.pushed.items():
            got = requests.get(f"{url}/v2/{repo}/manifests/{digest}", auth=ADMIN, timeout=30)
            assert got.status_code == 200, (repo, tag, got.status_code)
        for server in servers:
            assert not server.errors, server.error_log()
