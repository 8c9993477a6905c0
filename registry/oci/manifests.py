"""Manifest parsing and validation: what a PUT body must be, and what it references."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from wharf.registry.oci.errors import MANIFEST_INVALID, RegistryError
from wharf.registry.oci.names import DIGEST_RE, Digest, parse_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES

# Layers a registry is not expected to hold (pulled from their `urls`).
FOREIGN_LAYER_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)


@dataclass(slots=True)
class ParsedManifest:
    media_type: str
    blobs: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    subject: str | None = None
    artifact_type: str | None = None
    annotations: bytes | None = None
    doc: dict[str, Any] = field(default_factory=dict)  # the body, parsed


def _invalid(reason: str) -> RegistryError:
    return RegistryError(MANIFEST_INVALID, {"reason": reason})


def _descriptor(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"{where} must be a descriptor object")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise _invalid(f"{where}.mediaType must be a non-empty string")
    digest = value.get("digest")
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise _invalid(f"{where}.digest is not a valid digest")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}.size must be a non-negative integer")
    try:
        parse_digest(digest)
    except RegistryError as exc:
        raise _invalid(f"{where}.digest: {exc.message}") from None
    return value


def media_type_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Validate a manifest body against its declared media type.

    Raises MANIFEST_INVALID for anything malformed; references are returned for the
    caller to check against the repository."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _invalid("body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise _invalid("manifest must be a JSON object")
    if doc.get("schemaVersion") != 2 or isinstance(doc.get("schemaVersion"), bool):
        raise _invalid("schemaVersion must be 2")

    declared = media_type_of(content_type)
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise _invalid("mediaType must be a string")
    if declared in (None, "application/json", "application/octet-stream"):
        declared = None
    if declared is not None and declared in DOCKER_SCHEMA1:
        raise _invalid("Docker schema 1 manifests are not supported")
    if declared is not None and declared not in MANIFEST_TYPES:
        raise _invalid(f"unsupported manifest media type {declared}")
    if declared is not None and body_type is not None and body_type != declared:
        raise _invalid("mediaType in the body does not match Content-Type")
    media_type = declared or body_type
    if media_type is None:
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type not in MANIFEST_TYPES:
        raise _invalid(f"unsupported manifest media type {media_type}")
    if media_type in (DOCKER_MANIFEST, DOCKER_LIST) and body_type != media_type:
        raise _invalid("Docker manifests must carry their mediaType")

    parsed = ParsedManifest(media_type, doc=doc)
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and (not isinstance(artifact_type, str) or not artifact_type):
        raise _invalid("artifactType must be a non-empty string")
    annotations = doc.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict) or not all(
            isinstance(v, str) for v in annotations.values()
        ):
            raise _invalid("annotations must map strings to strings")
        parsed.annotations = orjson.dumps(annotations)
    subject = doc.get("subject")
    if subject is not None:
        parsed.subject = _descriptor(subject, "subject")["digest"]

    if media_type in IMAGE_TYPES:
        config = _descriptor(doc.get("config"), "config")
        parsed.blobs.append(config["digest"])
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise _invalid("layers must be an array")
        for i, layer in enumerate(layers):
            descriptor = _descriptor(layer, f"layers[{i}]")
            if descriptor["mediaType"] not in FOREIGN_LAYER_TYPES:
                parsed.blobs.append(descriptor["digest"])
        parsed.artifact_type = artifact_type or config["mediaType"]
    else:
        manifests = doc.get("manifests")
        if not isinstance(manifests, list):
            raise _invalid("manifests must be an array")
        for i, entry in enumerate(manifests):
            parsed.children.append(_descriptor(entry, f"manifests[{i}]")["digest"])
        parsed.artifact_type = artifact_type
    return parsed


def digest_of(body: bytes, algorithm: str = "sha256") -> Digest:
    return Digest(algorithm, hashlib.new(algorithm, body).hexdigest())


def accepts(accept_headers: list[str], media_type: str) -> bool:
    """Content negotiation: does any Accept value admit ``media_type``?"""
    if not accept_headers:
        return True
    for header in accept_headers:
        for item in header.split(","):
            value = item.split(";", 1)[0].strip().lower()
            if value in ("", "*/*", "application/*", media_type):
                return True
            if value == "application/json":
                return True
    return False
