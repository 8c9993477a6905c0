"""Replication through Wharf's API next to ``skopeo sync`` over the same pair: a Wharf
(``wharf serve``, access control on, SQLite, its job runner copying) as the source, the
reference registry (``docker-registry``, anonymous) as the destination.

    python -m bench.replication_sync                         # 100 small images, 1 GiB image
    python -m bench.replication_sync --small 100 --big 1GiB --rounds 1

Scenarios: ``--small`` images in one repository (a config and two random 32 KiB layers
each, one tag each), and one image with one random layer of ``--big`` bytes. Each round of
each tool copies into a fresh reference registry (nothing there to skip or mount). Wharf:
a push policy selecting the repository, ``POST /replication/executions``, timed until the
execution is ``Succeed`` (polled every 50 ms). skopeo: ``skopeo sync --src docker --dest
docker`` of the repository (every tag). MB = 10^6 bytes of layers and configs."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.replication import random_file
from bench.servers import Server, reference_server, wharf_server
from wharf.registry.config import parse_size
from wharf.replication.client.blobs import BytesSource, FileSource
from wharf.replication.client.client import Manifest, RegistryClient
from wharf.replication.client.endpoint import Credential, Endpoint

ADMIN = ("admin", "Bench-Admin-Pass-1")
SMALL_LAYER = 32 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _manifest(config: bytes, layers: list[tuple[str, int]]) -> Manifest:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
            "size": len(config),
        },
        "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": s} for d, s in layers],
    }
    return Manifest.of(json.dumps(doc).encode(), OCI_MANIFEST)


async def _push_small(client: RegistryClient, repo: str, tag: str) -> int:
    config = f'{{"architecture":"amd64","os":"linux","n":"{os.urandom(8).hex()}"}}'.encode()
    await client.push_blob(
        repo, "sha256:" + hashlib.sha256(config).hexdigest(), BytesSource(config)
    )
    layers = []
    for _ in range(2):
        data = os.urandom(SMALL_LAYER)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        await client.push_blob(repo, digest, BytesSource(data))
        layers.append((digest, len(data)))
    await client.put_manifest(repo, tag, _manifest(config, layers))
    return len(config) + sum(s for _, s in layers)


async def seed(url: str, small: int, big: int, work: Path) -> tuple[int, int]:
    """``bench/small`` (``small`` images) and ``bench/big`` (one image of ``big`` bytes);
    the bytes of each."""
    async with RegistryClient(Endpoint(url, "wharf", Credential(*ADMIN))) as client:
        limit = asyncio.Semaphore(8)

        async def one(n: int) -> int:
            async with limit:
                return await _push_small(client, "bench/small", f"t{n:04d}")

        small_bytes = sum(await asyncio.gather(*(one(n) for n in range(small))))
        blob = work / "big-layer"
        digest = random_file(blob, big)
        await client.push_blob("bench/big", digest, FileSource(blob))
        blob.unlink()
        config = b'{"architecture":"amd64","os":"linux"}'
        await client.push_blob(
            "bench/big", "sha256:" + hashlib.sha256(config).hexdigest(), BytesSource(config)
        )
        await client.put_manifest("bench/big", "v1", _manifest(config, [(digest, big)]))
    return small_bytes, big + len(config)


def api(wharf: Server, method: str, path: str, **kw: Any) -> requests.Response:
    r = requests.request(method, f"{wharf.url}/api/v2.0{path}", auth=ADMIN, timeout=60, **kw)
    if r.status_code >= 400:
        raise RuntimeError(f"{method} {path}: {r.status_code} {r.text}")
    return r


def location_id(r: requests.Response) -> int:
    return int(r.headers["Location"].rsplit("/", 1)[1])


def wharf_round(wharf: Server, destination: Server, repo: str, tag: str) -> float:
    registry = location_id(
        api(
            wharf,
            "POST",
            "/registries",
            json={"name": tag, "type": "docker-registry", "url": destination.url},
        )
    )
    policy = location_id(
        api(
            wharf,
            "POST",
            "/replication/policies",
            json={
                "name": tag,
                "dest_registry": {"id": registry},
                "filters": [{"type": "name", "value": repo}],
            },
        )
    )
    started = time.perf_counter()
    execution = location_id(
        api(wharf, "POST", "/replication/executions", json={"policy_id": policy})
    )
    while True:
        doc = api(wharf, "GET", f"/replication/executions/{execution}").json()
        if doc["status"] != "InProgress":
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if doc["status"] != "Succeed":
        raise RuntimeError(f"the execution ended {doc['status']}: {doc['status_text']}")
    return elapsed


def skopeo_round(wharf: Server, destination: Server, repo: str) -> float:
    source = wharf.url.removeprefix("http://")
    target = destination.url.removeprefix("http://")
    started = time.perf_counter()
    subprocess.run(
        ["skopeo", "sync", "--src", "docker", "--dest", "docker",
         "--src-tls-verify=false", "--dest-tls-verify=false",
         "--src-creds", f"{ADMIN[0]}:{ADMIN[1]}",
         f"{source}/{repo}", f"{target}/bench"],
        check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replication_sync")
    parser.add_argument("--small", type=int, default=100, help="small images (0: skip)")
    parser.add_argument("--big", default="1GiB", help="the big image's layer (0: skip)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    big = parse_size(args.big)
    if shutil.which("skopeo") is None:
        print("skopeo is missing (bash tests/system-deps.sh)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="wharf-bench-sync.", dir=args.workdir))
    wharf = wharf_server(work)
    wharf.env.update({"WHARF_AUTH__ENABLED": "true", "WHARF_ADMIN_PASSWORD": ADMIN[1]})
    wharf.start()
    figures: dict[tuple[str, str], list[float]] = {}
    try:
        api(wharf, "POST", "/projects", json={"project_name": "bench"})
        small_bytes, big_bytes = asyncio.run(seed(wharf.url, args.small, big, work))
        scenarios = []
        if args.small:
            scenarios.append(("small", f"{args.small} images", small_bytes))
        if big:
            scenarios.append(("big", f"1 image of {big / 2**20:.0f} MiB", big_bytes))
        for n in range(args.rounds):
            for name, _, _ in scenarios:
                for tool in ("wharf", "skopeo"):
                    place = work / f"dest-{name}-{tool}-{n}"
                    place.mkdir()
                    destination = reference_server(place)
                    destination.start()
                    try:
                        if tool == "wharf":
                            took = wharf_round(wharf, destination, f"bench/{name}", f"{name}-{n}")
                        else:
                            took = skopeo_round(wharf, destination, f"bench/{name}")
                    finally:
                        destination.stop()
                        shutil.rmtree(place, ignore_errors=True)
                    figures.setdefault((name, tool), []).append(took)
    finally:
        wharf.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"Wharf (SQLite, access control on) -> reference registry on loopback, {args.rounds} rounds"
    )
    for name, label, size in scenarios:
        for tool in ("wharf", "skopeo"):
            values = figures[(name, tool)]
            median = statistics.median(values)
            rounds = " ".join(f"{v:.2f}" for v in values)
            per_image = f"{args.small / median:6.1f} images/s" if name == "small" else ""
            print(
                f"  {label:22s} {'wharf replication' if tool == 'wharf' else 'skopeo sync':18s}"
                f" median {median:7.2f} s  {size / median / 1e6:6.1f} MB/s {per_image}"
                f"  ({rounds})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
