"""Time to first byte of the proxy cache on a miss, next to a direct pull from upstream.

    python -m bench.proxy                       # a 256 MiB blob, 3 rounds
    python -m bench.proxy --size 1GiB --rounds 1

Starts the reference registry (``docker-registry``, anonymous) as the upstream and a Wharf
(access control on) with a public proxy-cache project ``px`` of it. Each round pushes fresh
content upstream (a small image, and one blob of ``--size`` random bytes), then times over
plain HTTP on loopback, from sending the request to the first body byte (TTFB) and to the
last (total):

- manifest: ``GET /v2/bench/rN/manifests/v1`` upstream, then the same through the proxy
  (``/v2/px/bench/rN/...``: a miss, fetched upstream), then again (a hit);
- blob: ``GET /v2/bench/rN/blobs/<digest>`` upstream, then through the proxy (a miss: the
  blob streams to the client while it is stored), then again (a hit, from the store).

Medians over the rounds are printed, in milliseconds; MB/s = 10^6 bytes per second."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import requests

from bench.replication import random_file
from bench.servers import reference_server, wharf_server
from tests.artifacts import push_image
from wharf.registry.config import parse_size
from wharf.replication.client.blobs import FileSource
from wharf.replication.client.client import RegistryClient
from wharf.replication.client.endpoint import Endpoint

ADMIN = ("admin", "Bench-Admin-Pass-1")
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json"


async def timed_get(session: aiohttp.ClientSession, url: str) -> tuple[float, float, int]:
    """(seconds to the first body byte, seconds to the last, bytes), the body hashed
    on the way as a client would."""
    digest = hashlib.sha256()
    started = time.perf_counter()
    first = 0.0
    count = 0
    async with session.get(url, headers={"Accept": MANIFEST_ACCEPT}) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {await response.text()}")
        async for chunk in response.content.iter_any():
            if not first:
                first = time.perf_counter() - started
            digest.update(chunk)
            count += len(chunk)
    return first, time.perf_counter() - started, count


async def seed(upstream: str, repo: str, blob: Path, digest: str) -> None:
    async with RegistryClient(Endpoint(upstream, "docker-registry")) as client:
        await push_image(client, repo, "v1", layers=2, size=64 * 1024)
        await client.push_blob(repo, digest, FileSource(blob))


async def round_once(
    upstream: str, wharf: str, n: int, blob: Path, digest: str
) -> dict[str, tuple[float, float, int]]:
    repo = f"bench/r{n}-{os.getpid()}"
    await seed(upstream, repo, blob, digest)
    timeout = aiohttp.ClientTimeout(total=3600)
    found: dict[str, tuple[float, float, int]] = {}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        found["manifest direct"] = await timed_get(session, f"{upstream}/v2/{repo}/manifests/v1")
        proxied = f"{wharf}/v2/px/{repo}/manifests/v1"
        found["manifest proxy miss"] = await timed_get(session, proxied)
        name = repo.replace("/", "%252F")
        artifact = f"{wharf}/api/v2.0/projects/px/repositories/{name}/artifacts/v1"
        for _ in range(200):  # stored in the background once its blobs are
            async with session.get(artifact) as stored:
                if stored.status == 200:
                    break
            await asyncio.sleep(0.05)
        found["manifest proxy hit"] = await timed_get(session, proxied)
        found["blob direct"] = await timed_get(session, f"{upstream}/v2/{repo}/blobs/{digest}")
        proxied = f"{wharf}/v2/px/{repo}/blobs/{digest}"
        found["blob proxy miss"] = await timed_get(session, proxied)
        for _ in range(100):  # the store commits just after the last byte went out
            async with session.head(proxied) as head:
                if head.status == 200:
                    break
            await asyncio.sleep(0.05)
        found["blob proxy hit"] = await timed_get(session, proxied)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", default="256MiB", help="blob size (default 256MiB)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = parse_size(args.size)
    with tempfile.TemporaryDirectory(prefix="wharf-bench-proxy-") as tmp:
        work = Path(tmp)
        upstream = reference_server(work)
        wharf = wharf_server(work)
        wharf.env.update({"WHARF_AUTH__ENABLED": "true", "WHARF_ADMIN_PASSWORD": ADMIN[1]})
        upstream.start()
        try:
            wharf.start()
            try:
                api = f"{wharf.url}/api/v2.0"
                body = {"name": "up", "type": "docker-registry", "url": upstream.url}
                r = requests.post(f"{api}/registries", json=body, auth=ADMIN, timeout=30)
                r.raise_for_status()
                registry_id = int(r.headers["Location"].rsplit("/", 1)[1])
                project = {
                    "project_name": "px",
                    "registry_id": registry_id,
                    "metadata": {"public": "true"},
                }
                requests.post(
                    f"{api}/projects", json=project, auth=ADMIN, timeout=30
                ).raise_for_status()
                results: dict[str, list[tuple[float, float, int]]] = {}
                for n in range(args.rounds):
                    blob = work / f"blob-{n}"
                    digest = random_file(blob, size)
                    found = asyncio.run(round_once(upstream.url, wharf.url, n, blob, digest))
                    blob.unlink()
                    for key, value in found.items():
                        results.setdefault(key, []).append(value)
            finally:
                wharf.stop()
        finally:
            upstream.stop()
    print(f"blob size {size} bytes, {args.rounds} rounds, medians")
    print(f"{'':22} {'TTFB ms':>9} {'total ms':>9} {'MB/s':>8}")
    for key, values in results.items():
        first = statistics.median(v[0] for v in values) * 1000
        total = statistics.median(v[1] for v in values)
        rate = values[0][2] / total / 1e6 if total else 0.0
        print(f"{key:22} {first:9.1f} {total * 1000:9.1f} {rate:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
