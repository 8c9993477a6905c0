"""Media types, digests and in-code content builders."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])

#: The error-code catalog of the distribution spec v1.1 (code-1 .. code-14).
SPEC_ERROR_CODES: frozenset[str] = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
    }
)

EMPTY_JSON = b"{}"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def random_blob(size: int = 1024) -> bytes:
    return os.urandom(size)


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True).encode()


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    platform: dict[str, str] | None = None

    @classmethod
    def of(cls, media_type: str, data: bytes, **kw: Any) -> Descriptor:
        return cls(media_type, sha256(data), len(data), **kw)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.platform:
            d["platform"] = dict(self.platform)
        return d


@dataclass
class Blob:
    data: bytes
    media_type: str = OCI_LAYER

    @property
    def digest(self) -> str:
        return sha256(self.data)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor.of(self.media_type, self.data)


def random_config(media_type: str = OCI_CONFIG) -> Blob:
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256(os.urandom(16))]},
        "config": {"Labels": {"conformance.nonce": os.urandom(8).hex()}},
    }
    return Blob(canonical(cfg), media_type)


@dataclass
class Manifest:
    """A manifest's exact bytes plus what it references (blobs to push first)."""

    body: bytes
    media_type: str
    blobs: list[Blob] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return sha256(self.body)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor.of(self.media_type, self.body)

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


def image_manifest(
    config: Blob,
    layers: list[Blob],
    *,
    media_type: str = OCI_MANIFEST,
    subject: Descriptor | None = None,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Manifest:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.descriptor.to_json(),
        "layers": [b.descriptor.to_json() for b in layers],
    }
    if artifact_type:
        doc["artifactType"] = artifact_type
    if subject is not None:
        doc["subject"] = subject.to_json()
    if annotations:
        doc["annotations"] = annotations
    return Manifest(canonical(doc), media_type, [config, *layers])


def random_image(media_type: str = OCI_MANIFEST, layers: int = 1, size: int = 512) -> Manifest:
    docker = media_type == DOCKER_MANIFEST
    config = random_config(DOCKER_CONFIG if docker else OCI_CONFIG)
    blobs = [Blob(random_blob(size), DOCKER_LAYER if docker else OCI_LAYER) for _ in range(layers)]
    return image_manifest(config, blobs, media_type=media_type)


def artifact(
    artifact_type: str,
    *,
    subject: Descriptor | None = None,
    annotations: dict[str, str] | None = None,
) -> Manifest:
    """An OCI 1.1 artifact: image manifest, empty config, ``artifactType`` set."""
    empty = Blob(EMPTY_JSON, OCI_EMPTY)
    layer = Blob(random_blob(64), "application/octet-stream")
    return image_manifest(
        empty, [layer], subject=subject, artifact_type=artifact_type, annotations=annotations
    )


def index(manifests: list[Manifest], media_type: str = OCI_INDEX) -> Manifest:
    archs = ["amd64", "arm64", "ppc64le", "s390x", "386", "riscv64"]
    descs = []
    for i, m in enumerate(manifests):
        platform = {"architecture": archs[i % len(archs)], "os": "linux"}
        descs.append(Descriptor.of(m.media_type, m.body, platform=platform).to_json())
    doc = {"schemaVersion": 2, "mediaType": media_type, "manifests": descs}
    return Manifest(canonical(doc), media_type)
