"""OCI content for tests, pushed through the outbound client (``RegistryClient``): images
(OCI or Docker media types) with random layers, indexes over them, and referrers
(signature- or SBOM-like artifacts with a ``subject``)."""

from __future__ import annotations

import os
from typing import Any

import orjson

from wharf.registry.oci.manifests import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from wharf.replication.client.blobs import BytesSource, digest_bytes
from wharf.replication.client.client import Manifest, PushedManifest, RegistryClient

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
EMPTY = "application/vnd.oci.empty.v1+json"


async def push_image(
    client: RegistryClient,
    repo: str,
    tag: str | None,
    *,
    layers: int = 2,
    docker: bool = False,
    size: int = 4096,
) -> Manifest:
    config = orjson.dumps({"architecture": "amd64", "os": "linux", "n": os.urandom(8).hex()})
    await client.push_blob(repo, digest_bytes(config), BytesSource(config))
    entries = []
    for _ in range(layers):
        data = os.urandom(size)
        await client.push_blob(repo, digest_bytes(data), BytesSource(data))
        kind = DOCKER_LAYER if docker else OCI_LAYER
        entries.append({"mediaType": kind, "digest": digest_bytes(data), "size": len(data)})
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "digest": digest_bytes(config),
            "size": len(config),
        },
        "layers": entries,
    }
    manifest = Manifest.of(orjson.dumps(doc), media_type)
    await client.put_manifest(repo, tag or manifest.digest, manifest)
    return manifest


async def push_referrer(
    client: RegistryClient, repo: str, subject: Manifest, kind: str
) -> tuple[Manifest, PushedManifest]:
    empty = b"{}"
    await client.push_blob(repo, digest_bytes(empty), BytesSource(empty))
    payload = os.urandom(64)
    await client.push_blob(repo, digest_bytes(payload), BytesSource(payload))
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": kind,
        "config": {"mediaType": EMPTY, "digest": digest_bytes(empty), "size": 2},
        "layers": [
            {"mediaType": "application/octet-stream", "digest": digest_bytes(payload), "size": 64}
        ],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": len(subject.body),
        },
    }
    manifest = Manifest.of(orjson.dumps(doc), OCI_MANIFEST)
    pushed = await client.put_manifest(repo, manifest.digest, manifest)
    return manifest, pushed


async def read_blob(client: RegistryClient, repo: str, digest: str, offset: int = 0) -> bytes:
    out = bytearray()
    async with client.blob(repo, digest, offset) as stream:
        async for chunk in stream.chunks():
            out += chunk
    return bytes(out)


async def push_index(
    client: RegistryClient, repo: str, tag: str | None, children: list[Manifest]
) -> Manifest:
    """An OCI index over ``children`` (already pushed to ``repo``)."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": child.media_type,
                "digest": child.digest,
                "size": len(child.body),
                "platform": {"architecture": arch, "os": "linux"},
            }
            for child, arch in zip(children, ("amd64", "arm64", "s390x", "ppc64le"), strict=False)
        ],
    }
    index = Manifest.of(orjson.dumps(doc), OCI_INDEX)
    await client.put_manifest(repo, tag or index.digest, index)
    return index
