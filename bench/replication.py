"""Throughput of the outbound client (``wharf.replication.client``) on one big blob,
next to ``skopeo copy`` of an image made of that blob, both against a local reference
registry (``docker-registry``, started here).

    python -m bench.replication                      # 256 MiB, 3 rounds
    python -m bench.replication --size 1GiB --rounds 1

Each round uses fresh random bytes, so neither tool finds the blob already there (skopeo's
blob-info cache would otherwise mount it). Push: the client streams a file
(``FileSource``, one ``POST`` + one ``PUT``, hashed on the way); skopeo copies an OCI
layout holding one image (config + that blob as its layer) to ``docker://``. Pull: the
client streams the blob into a file, hashing it; skopeo copies the image back into an
OCI layout (it verifies digests too). MB = 10^6 bytes; the medians are printed."""

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

from bench.servers import reference_server
from wharf.registry.config import parse_size
from wharf.replication.client.blobs import FileSource
from wharf.replication.client.client import RegistryClient
from wharf.replication.client.endpoint import Endpoint

BLOCK = 1024 * 1024
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(BLOCK, left))
            f.write(block)
            digest.update(block)
            left -= len(block)
    return "sha256:" + digest.hexdigest()


def oci_layout(directory: Path, layer: Path, layer_digest: str, size: int) -> None:
    """An OCI image layout with one image: a config and ``layer`` (hard-linked in)."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    os.link(layer, blobs / layer_digest.split(":")[1])
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    (blobs / config_digest).write_bytes(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{config_digest}",
                "size": len(config),
            },
            "layers": [{"mediaType": LAYER, "digest": layer_digest, "size": size}],
        }
    ).encode()
    manifest_digest = hashlib.sha256(manifest).hexdigest()
    (blobs / manifest_digest).write_bytes(manifest)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (directory / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": f"sha256:{manifest_digest}",
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": "v1"},
                    }
                ],
            }
        )
    )


async def client_push(url: str, repo: str, path: Path, digest: str) -> float:
    async with RegistryClient(Endpoint(url, "docker-registry")) as client:
        await client.ping()
        started = time.perf_counter()
        await client.push_blob(repo, digest, FileSource(path))
        return time.perf_counter() - started


async def client_pull(url: str, repo: str, digest: str, out: Path) -> float:
    async with RegistryClient(Endpoint(url, "docker-registry")) as client:
        await client.ping()
        started = time.perf_counter()
        check = hashlib.sha256()
        with out.open("wb") as f:
            async with client.blob(repo, digest) as stream:
                async for chunk in stream.chunks():
                    check.update(chunk)
                    await asyncio.to_thread(f.write, chunk)
        elapsed = time.perf_counter() - started
    if "sha256:" + check.hexdigest() != digest:
        raise RuntimeError("the pulled blob is not its digest")
    return elapsed


def skopeo(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(["skopeo", "copy", "-q", *args], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replication")
    parser.add_argument("--size", default="256MiB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    size = parse_size(args.size)
    if shutil.which("skopeo") is None:
        print("skopeo is missing (bash tests/system-deps.sh)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="wharf-bench-repl.", dir=args.workdir))
    server = reference_server(work)
    server.start()
    figures: dict[str, list[float]] = {
        "client push": [],
        "skopeo push": [],
        "client pull": [],
        "skopeo pull": [],
    }
    host = server.url.removeprefix("http://")
    try:
        for n in range(args.rounds):
            for tool in ("client", "skopeo"):
                blob = work / f"blob-{tool}-{n}"
                digest = random_file(blob, size)
                repo = f"bench/{tool}-{n}"
                if tool == "client":
                    push = asyncio.run(client_push(server.url, repo, blob, digest))
                    pull = asyncio.run(client_pull(server.url, repo, digest, work / "pulled"))
                    (work / "pulled").unlink()
                else:
                    layout = work / f"layout-{n}"
                    oci_layout(layout, blob, digest, size)
                    push = skopeo(
                        "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{host}/{repo}:v1"
                    )
                    out = work / f"out-{n}"
                    pull = skopeo(
                        "--src-tls-verify=false", f"docker://{host}/{repo}:v1", f"oci:{out}:v1"
                    )
                    shutil.rmtree(layout)
                    shutil.rmtree(out)
                blob.unlink()
                figures[f"{tool} push"].append(size / push / 1e6)
                figures[f"{tool} pull"].append(size / pull / 1e6)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{size / 2**20:.0f} MiB blob, {args.rounds} rounds, reference registry on loopback")
    for name, values in figures.items():
        rounds = " ".join(f"{v:.0f}" for v in values)
        print(f"  {name:12s} median {statistics.median(values):6.0f} MB/s   ({rounds})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
